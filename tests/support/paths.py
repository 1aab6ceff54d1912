"""Where the suite finds the repository and its data: the repository root, its docs/ (the corpus most tests serve),
and the shared datasets beside the clone."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SHARED_DATA = ROOT.parent / "shared" / "data"
