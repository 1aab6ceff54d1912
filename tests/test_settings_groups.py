"""The settings by group: every `RAG_*` variable keeps its flat name and lands in its group, arguments by flat name
win over variables, `.env` is read (and `_env_file=None` reads none), and `updated` validates again."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from rag.settings import GROUP_OF, GROUPS, Settings, setting_names

# A value other than the default for settings of each kind, and how it reads back.
READ = {
    "RAG_QDRANT_URL": ("http://127.0.0.1:6333", ("store", "url"), "http://127.0.0.1:6333"),
    "RAG_QDRANT_PATH": ("/tmp/q", ("store", "path"), Path("/tmp/q")),
    "RAG_INDEXED_METADATA": ("team, lang", ("store", "indexed_metadata"), ["team", "lang"]),
    "RAG_TENANT": ("acme", ("access", "tenant"), "acme"),
    "RAG_OIDC_LEEWAY_S": ("12", ("oidc", "leeway_s"), 12.0),
    "RAG_OIDC_DEFAULT_ROLES": ("reader,writer", ("oidc", "default_roles"), ["reader", "writer"]),
    "RAG_EMBED_BACKEND": ("torch", ("embedding", "backend"), "torch"),
    "RAG_INGEST_MAX_PAGES": ("9", ("ingest", "max_pages"), 9),
    "RAG_RETRIEVAL_MODE": ("dense", ("retrieval", "mode"), "dense"),
    "RAG_TOP_K": ("7", ("retrieval", "top_k"), 7),
    "RAG_INJECTED_SOURCES": ("drop", ("evidence", "injected_sources"), "drop"),
    "RAG_LOCAL_LLM_MAX_WAITING": ("0", ("llm", "local_max_waiting"), 0),
    "RAG_EVAL_DATA_DIR": ("/data", ("evals", "data_dir"), Path("/data")),
    "RAG_TRACE_TENANTS": ("acme=3,*=1", ("records", "trace_tenants"), {"acme": 3, "*": 1}),
    "RAG_UI_ENABLED": ("false", ("ui", "enabled"), False),
    "RAG_UPLOAD_MAX_CHUNKS": ("5", ("uploads", "max_chunks"), 5),
    "RAG_AUTH_FAILURES_PER_MINUTE": ("3", ("limits", "auth_failures_per_minute"), 3),
    "RAG_API_MODEL_NAME": ("kb", ("api", "model_name"), "kb"),
}


def _value(settings: Settings, where: tuple[str, str]) -> object:
    return getattr(getattr(settings, where[0]), where[1])


def test_every_flat_name_is_in_exactly_one_group_and_the_groups_cover_every_field() -> None:
    names = setting_names()
    assert len(names) == len(set(names)) == sum(len(model.model_fields) for model in GROUPS.values())
    assert set(GROUP_OF.values()) == set(GROUPS)
    assert not set(GROUPS) & set(names)  # a group's name is never a setting's name


def test_variables_land_in_their_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable, (text, _, _) in READ.items():
        monkeypatch.setenv(variable, text)
    settings = Settings(_env_file=None)
    assert {v: _value(settings, where) for v, (_, where, _) in READ.items()} == {
        v: expected for v, (_, _, expected) in READ.items()
    }
    assert GROUP_OF["top_k"] == "retrieval" and GROUP_OF["qdrant_url"] == "store"


def test_arguments_by_flat_name_win_over_variables_and_secrets_stay_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_TOP_K", "7")
    monkeypatch.setenv("RAG_FUSION", "rrf")
    settings = Settings(_env_file=None, top_k=2, llm_api_key=SecretStr("s3cr3t-key"))
    assert (settings.retrieval.top_k, settings.retrieval.fusion) == (2, "rrf")
    assert settings.llm.api_key.get_secret_value() == "s3cr3t-key" and "s3cr3t" not in repr(settings)


def test_the_env_file_is_read_unless_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAG_TOP_K", raising=False)
    env = tmp_path / "rag.env"
    env.write_text("RAG_TOP_K=11\nRAG_OIDC_ISSUER=https://id.example\nRAG_OIDC_AUDIENCE=rag\n")
    read = Settings(_env_file=env)
    assert (read.retrieval.top_k, read.oidc.issuer, read.oidc.audience) == (11, "https://id.example", "rag")
    assert Settings(_env_file=None).retrieval.top_k == 3


def test_updated_changes_by_flat_name_and_validates_again() -> None:
    base = Settings(_env_file=None, fusion="rrf")
    changed = base.updated(qdrant_path=Path("/tmp/x"), top_k=9)
    assert (changed.store.path, changed.retrieval.top_k, changed.retrieval.fusion) == (Path("/tmp/x"), 9, "rrf")
    assert base.retrieval.top_k == 3  # the original is left as it was
    with pytest.raises(ValueError, match="not settings: top"):
        base.updated(top=1)
    with pytest.raises(ValidationError, match="RAG_TENANT must be a tenant name"):
        base.updated(tenant="no spaces allowed")


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"state_url": "http://redis:6379"}, "RAG_STATE_URL must be a redis:// or rediss:// URL"),
        ({"database_url": "mysql://db/rag"}, "RAG_DATABASE_URL must be sqlite:///PATH or postgresql://"),
        ({"oidc_issuer": "http://id.example", "oidc_audience": "rag"}, "RAG_OIDC_ISSUER must be an https URL"),
        ({"oidc_issuer": "not a url", "oidc_audience": "rag"}, "RAG_OIDC_ISSUER must be an https URL"),
        ({"oidc_issuer": "https://id.example"}, "RAG_OIDC_ISSUER needs RAG_OIDC_AUDIENCE"),
    ],
)
def test_urls_are_checked_by_pydantic_and_kept_as_given(given: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(_env_file=None, **given)


def test_a_checked_url_is_kept_as_given() -> None:
    settings = Settings(
        _env_file=None,
        state_url="rediss://cache:6380/2",
        database_url="postgresql://rag@db:5432/rag",
        oidc_issuer="https://id.example/realms/acme",
        oidc_audience="rag",
    )
    assert settings.limits.state_url == "rediss://cache:6380/2"
    assert settings.records.database_url == "postgresql://rag@db:5432/rag"
    assert settings.oidc.issuer == "https://id.example/realms/acme"  # no trailing slash added: tokens' `iss` match


def test_value_reads_every_setting_by_its_flat_name() -> None:
    settings = Settings(_env_file=None, top_k=4, qdrant_url="http://127.0.0.1:6333")
    for name in setting_names():
        group = getattr(settings, GROUP_OF[name])
        fields = [a for a, f in type(group).model_fields.items() if (f.alias or a) == name]
        assert fields and settings.value(name) == getattr(group, fields[0])
    assert (settings.value("top_k"), settings.value("qdrant_url")) == (4, "http://127.0.0.1:6333")
    with pytest.raises(KeyError):
        settings.value("retrieval")
