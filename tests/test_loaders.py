import json
from pathlib import Path

import pytest

from ingest.loaders import LoadFailure, UsageError, discover, load
from rag.domain import Document


def _load_all(paths: list[Path]) -> list[Document | LoadFailure]:
    return list(load(discover(paths)))


def test_directory_ids_are_relative_paths_and_unsupported_files_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text("alpha")
    (tmp_path / "sub" / "b.md").write_text("# Bravo title\n\nbody")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    docs = _load_all([tmp_path])
    assert [d.doc_id for d in docs if isinstance(d, Document)] == ["a.txt", "sub/b.md"]
    assert docs[1].title == "Bravo title"  # type: ignore[union-attr]


def test_html_keeps_main_content_not_navigation(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(
        "<html><head><title>Guide</title><style>p{}</style></head><body><nav>Home | About</nav>"
        "<main><h1>Install</h1><p>Run the installer.</p></main><footer>(c) 2026</footer></body></html>"
    )
    (doc,) = _load_all([page])
    assert isinstance(doc, Document)
    assert doc.title == "Guide"
    assert "Run the installer." in doc.text
    assert "Home" not in doc.text and "2026" not in doc.text


def test_bad_files_become_failures_not_exceptions(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("  \n")
    (tmp_path / "binary.txt").write_bytes(b"abc\x00\x01\x02")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (tmp_path / "ok.txt").write_text("fine")
    results = {Path(r.path if isinstance(r, LoadFailure) else r.source).name: r for r in _load_all([tmp_path])}
    assert isinstance(results["ok.txt"], Document)
    for name, reason in [("empty.txt", "empty"), ("binary.txt", "binary"), ("latin1.txt", "UTF-8")]:
        failure = results[name]
        assert isinstance(failure, LoadFailure) and reason in failure.error


def test_beir_corpus_records_and_bad_lines(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    rows = [{"_id": "d1", "title": "T", "text": "x", "metadata": {"year": 2020}}, {"title": "no id"}]
    corpus.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
    results = _load_all([corpus])
    assert isinstance(results[0], Document) and results[0].doc_id == "d1"
    assert results[0].metadata == {"year": 2020}
    assert [r.path for r in results[1:] if isinstance(r, LoadFailure)] == [f"{corpus}:2", f"{corpus}:3"]


def test_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        discover([tmp_path / "nope"])
