"""`rag eval cache list|prune` on the real eval store: collections built by `rag eval retrieval`, listed, pruned."""

import json
from pathlib import Path

import pytest

from evals.eval_index import eval_settings
from rag.components import build_store
from rag.settings import Settings
from rag_cli.main import main
from tests.support.eval_dataset import CORPUS, tiny_dataset


@pytest.fixture
def cache_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("RAG_EMBED_BACKEND", "torch")
    monkeypatch.delenv("RAG_EVAL_DATA_DIR", raising=False)
    monkeypatch.delenv("RAG_QDRANT_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env file
    return tmp_path


def _eval(dataset: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["eval", "retrieval", "--dataset", str(dataset), "--mode", "dense", "--json", "--no-report"]) == 0
    return str(json.loads(capsys.readouterr().out)["collection"])


def _listed(capsys: pytest.CaptureFixture[str], *extra: str) -> list[dict[str, object]]:
    assert main(["eval", "cache", "list", "--json", *extra]) == 0
    collections: list[dict[str, object]] = json.loads(capsys.readouterr().out)["collections"]
    return collections


def test_list_and_prune_the_eval_cache(
    cache_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", "cache", "list"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("eval store: ") and out.endswith("no eval collections\n")

    dataset = tiny_dataset(cache_env / "tiny")
    first = _eval(dataset, capsys)
    monkeypatch.setenv("RAG_CHUNK_SIZE", "100")  # other chunking: another collection; the first is now stale
    second = _eval(dataset, capsys)
    assert first != second

    assert main(["eval", "cache", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("eval store: ") and lines[-1] == f"2 eval collections, {2 * len(CORPUS)} points"
    by_name = {line.split()[0]: line for line in lines[1:-1]}
    assert set(by_name) == {first, second}
    assert f"{len(CORPUS)} points  stale    tiny (all-MiniLM-L6-v2/torch, chunks 200/30, used " in by_name[first]
    assert f"{len(CORPUS)} points  current  tiny (all-MiniLM-L6-v2/torch, chunks 100/30, used " in by_name[second]
    listed = {c["name"]: c for c in _listed(capsys)}
    assert listed[second]["current"] is True and listed[second]["datasets"] == [str(dataset.resolve())]
    assert listed[first]["current"] is False and listed[first]["points"] == len(CORPUS)

    assert main(["eval", "cache", "prune", "--stale", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"would remove {first} ") and f"would remove 1 eval collection, {len(CORPUS)} points" in out
    assert {c["name"] for c in _listed(capsys)} == {first, second}  # a dry run removes nothing

    assert main(["eval", "cache", "prune", "--stale"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"removed {first} ") and out.endswith(
        f"removed 1 eval collection, {len(CORPUS)} points; 1 kept\n"
    )
    assert [c["name"] for c in _listed(capsys)] == [second]
    assert main(["eval", "cache", "prune", "--stale"]) == 0
    assert capsys.readouterr().out == "nothing to remove; 1 kept\n"

    assert main(["eval", "cache", "prune", "eval-000000000000"]) == 1  # not in the cache: nothing removed
    assert "no eval collection 'eval-000000000000'" in capsys.readouterr().err
    assert main(["eval", "cache", "prune"]) == 2
    assert "--all or --stale" in capsys.readouterr().err

    assert main(["eval", "cache", "prune", second, "--json"]) == 0
    pruned = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in pruned["removed"]] == [second] and pruned["points_removed"] == len(CORPUS)
    assert main(["eval", "cache", "list"]) == 0
    assert capsys.readouterr().out.endswith("no eval collections\n")
    assert not list((cache_env / "cache" / "eval" / "records").glob("*/*.json"))  # the records went with them

    assert _eval(dataset, capsys) == second  # rebuilt on the next evaluation
    assert main(["eval", "cache", "prune", "--all"]) == 0
    assert capsys.readouterr().out.startswith(f"removed {second} ")
    assert _listed(capsys) == []


def test_collections_without_a_record_are_recognized_from_the_data_folder(
    cache_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = cache_env / "data"
    name = _eval(tiny_dataset(data / "tiny"), capsys)
    for record in (cache_env / "cache" / "eval" / "records").glob("*/*.json"):
        record.unlink()  # as a collection built before records were kept

    settings = eval_settings(Settings())
    # a collection of the eval store that no evaluation made: never listed or pruned
    store = build_store(settings.store)
    store.ensure_collection("eval-notes", 384)
    store.close()

    (entry,) = _listed(capsys)
    assert entry["name"] == name and entry["current"] is False and entry["settings"] is None
    (entry,) = _listed(capsys, "--data", str(data))
    assert entry["current"] is True and entry["datasets"] == [str(data / "tiny")]
    monkeypatch.setenv("RAG_EVAL_DATA_DIR", str(data))
    assert main(["eval", "cache", "prune", "--stale"]) == 0
    assert capsys.readouterr().out == "nothing to remove; 1 kept\n"

    assert main(["eval", "cache", "prune", "--all"]) == 0
    assert capsys.readouterr().out.startswith(f"removed {name} ")
    store = build_store(settings.store)
    assert store.list_collections() == ["eval-notes"]
    store.close()

    monkeypatch.setenv("RAG_EVAL_DATA_DIR", str(cache_env / "nowhere"))
    assert main(["eval", "cache", "list"]) == 2
    assert (
        capsys.readouterr().err.strip() == f"rag eval cache: RAG_EVAL_DATA_DIR {cache_env / 'nowhere'}: no such folder"
    )
