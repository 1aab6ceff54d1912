"""Every setting is documented: each field of the one settings class appears as its `RAG_` variable in
docs/configuration.md."""

from __future__ import annotations

from rag.settings import Settings
from tests.support.paths import DOCS


def test_every_setting_is_in_the_configuration_page() -> None:
    page = (DOCS / "configuration.md").read_text()
    assert [f for f in Settings.model_fields if f"RAG_{f.upper()}" not in page] == []
