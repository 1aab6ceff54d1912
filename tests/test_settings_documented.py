"""Every setting is documented: each setting of every group of the settings appears as its `RAG_` variable in
docs/configuration.md."""

from __future__ import annotations

from rag.settings import setting_names
from tests.support.paths import DOCS


def test_every_setting_is_in_the_configuration_page() -> None:
    page = (DOCS / "configuration.md").read_text()
    names = setting_names()
    assert len(names) > 100  # every group read (120 settings when this was written)
    assert [f for f in names if f"RAG_{f.upper()}" not in page] == []
