"""Loaders per format, discovery, and bad input: every bad file is one clear failure and never an exception."""

import json
import os
from pathlib import Path

import docx
import pytest
from fpdf import FPDF
from pypdf import PdfReader, PdfWriter

from ingest.formats.base import LoadFailure, LoadOptions
from ingest.loaders import SUFFIXES, load
from ingest.sources.base import SourceFile, UsageError
from ingest.sources.local import SourceScope, discover
from rag.domain import Document


def _load_all(paths: list[Path], **options: object) -> list[Document | LoadFailure]:
    return list(load(discover(paths, SUFFIXES), LoadOptions(**options)))  # type: ignore[arg-type]


def _by_name(results: list[Document | LoadFailure]) -> dict[str, Document | LoadFailure]:
    return {Path((r.path if isinstance(r, LoadFailure) else r.source).split("#")[0]).name: r for r in results}


def _pdf(path: Path, pages: list[str]) -> Path:
    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 10, text)
    pdf.set_title("Pump manual")
    pdf.output(str(path))
    return path


def test_directory_ids_are_relative_paths_and_unsupported_files_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text("alpha")
    (tmp_path / "sub" / "b.md").write_text("# Bravo title\n\nbody")
    (tmp_path / "archive.zip").write_bytes(b"PK\x03\x04")
    docs = _load_all([tmp_path])
    assert [d.doc_id for d in docs if isinstance(d, Document)] == ["a.txt", "sub/b.md"]
    assert docs[1].title == "Bravo title"  # type: ignore[union-attr]
    assert Path(docs[0].source).is_absolute()  # type: ignore[union-attr]


def test_include_and_exclude_globs(tmp_path: Path) -> None:
    for name in ("keep/a.md", "keep/b.txt", "drop/c.md", "keep/draft-d.md"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("text")
    found = discover([tmp_path], SUFFIXES, include=["keep/*"], exclude=["draft-*"])
    assert [s.doc_id for s in found] == ["keep/a.md", "keep/b.txt"]
    assert [s.doc_id for s in discover([tmp_path], SUFFIXES, include=["*.md"])] == [
        "drop/c.md",
        "keep/a.md",
        "keep/draft-d.md",
    ]


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


def test_text_in_other_encodings_is_decoded(tmp_path: Path) -> None:
    (tmp_path / "latin1.txt").write_bytes("Le café est très chaud, déjà servi à la française.".encode("latin-1"))
    (tmp_path / "utf16.txt").write_bytes("Grüße aus Köln, schöne Straße.".encode("utf-16"))
    (tmp_path / "bom.txt").write_bytes("\ufeffplain with a byte order mark".encode())
    docs = _by_name(_load_all([tmp_path]))
    assert "café est très" in docs["latin1.txt"].text  # type: ignore[union-attr]
    assert "Grüße aus Köln" in docs["utf16.txt"].text  # type: ignore[union-attr]
    assert docs["bom.txt"].text == "plain with a byte order mark"  # type: ignore[union-attr]


def test_pdf_text_per_page_with_page_numbers(tmp_path: Path) -> None:
    _pdf(tmp_path / "manual.pdf", ["Page one explains the pump.", "Page two covers the valves."])
    (doc,) = _load_all([tmp_path])
    assert isinstance(doc, Document)
    assert doc.title == "Pump manual" and doc.metadata == {"format": "pdf", "pages": 2}
    assert [(p.metadata["page"], "valves" in p.text) for p in doc.parts] == [(1, False), (2, True)]


def test_docx_paragraphs_tables_and_headings(tmp_path: Path) -> None:
    document = docx.Document()
    document.add_heading("Operations", level=1)
    document.add_paragraph("Restart the service nightly.")
    document.add_heading("Backups", level=2)
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "daily", "03:00"
    document.save(str(tmp_path / "ops.docx"))
    (doc,) = _load_all([tmp_path])
    assert isinstance(doc, Document)
    table = "Table: Backups\n| daily | 03:00 |\n| --- | --- |"
    expected = f"# Operations\n\nRestart the service nightly.\n\n## Backups\n\n{table}"
    assert doc.text == expected


def test_jsonl_and_csv_records_with_configured_fields(tmp_path: Path) -> None:
    rows = [{"key": "a1", "body": "First ticket text", "team": "ops"}, {"body": "  "}, {"key": "a3", "body": "Third"}]
    (tmp_path / "tickets.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n[1]\n")
    (tmp_path / "faq.csv").write_text("key,body,lang\nq1,How to reset?,en\nq2,,en\n")
    results = _load_all([tmp_path], text_field="body", id_field="key")
    docs = {r.doc_id: r for r in results if isinstance(r, Document)}
    assert set(docs) == {"tickets.jsonl#a1", "tickets.jsonl#a3", "faq.csv#q1"}
    assert docs["tickets.jsonl#a1"].metadata == {"team": "ops", "format": "jsonl"}
    assert docs["faq.csv#q1"].text == "How to reset?" and docs["faq.csv#q1"].metadata["lang"] == "en"
    failures = sorted(Path(r.path).name for r in results if isinstance(r, LoadFailure))
    assert failures == ["faq.csv:3", "tickets.jsonl:2", "tickets.jsonl:4"]
    (missing,) = _load_all([tmp_path / "faq.csv"], text_field="nope")
    assert isinstance(missing, LoadFailure) and "no 'nope' column" in missing.error


def test_bad_files_become_failures_not_exceptions(tmp_path: Path) -> None:
    good = _pdf(tmp_path / "good.pdf", ["Fine text."])
    data = good.read_bytes()
    (tmp_path / "truncated.pdf").write_bytes(data[: len(data) // 2])
    (tmp_path / "corrupt.pdf").write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 20 + b"\n%%EOF\n")
    (tmp_path / "fake.pdf").write_text("just text with a pdf name")
    writer = PdfWriter(clone_from=PdfReader(good))
    writer.encrypt("secret")
    writer.write(str(tmp_path / "locked.pdf"))
    (tmp_path / "blank.pdf").write_bytes(_blank_pdf())
    (tmp_path / "broken.docx").write_bytes(b"PK\x03\x04 not really a zip")
    (tmp_path / "empty.txt").write_text("  \n")
    (tmp_path / "binary.txt").write_bytes(b"abc\x00\x01\x02" * 100)
    (tmp_path / "controls.md").write_bytes(bytes(range(1, 32)) * 50)
    (tmp_path / "big.txt").write_text("x" * 150_000)
    (tmp_path / "ok.txt").write_text("fine")
    results = _by_name(_load_all([tmp_path], max_file_bytes=100_000))
    assert isinstance(results["ok.txt"], Document)
    expected = {
        "truncated.pdf": "truncated PDF",
        "corrupt.pdf": "PDF",
        "fake.pdf": "not a PDF",
        "locked.pdf": "encrypted PDF",
        "blank.pdf": "no extractable text",
        "broken.docx": "DOCX",
        "empty.txt": "empty",
        "binary.txt": "binary",
        "controls.md": "binary",
        "big.txt": "100,000-byte limit",
    }
    for name, reason in expected.items():
        failure = results[name]
        assert isinstance(failure, LoadFailure) and reason in failure.error, (name, failure)
    assert len(results) == len(expected) + 2  # good.pdf and ok.txt load


def _blank_pdf() -> bytes:
    pdf = FPDF()
    pdf.add_page()
    return bytes(pdf.output())


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
        discover([tmp_path / "nope"], SUFFIXES)


def test_source_scope_covers_only_what_is_under_its_roots(tmp_path: Path) -> None:
    scope = SourceScope.of([tmp_path / "a", tmp_path / "one.csv"])
    assert scope.covers(f"{tmp_path}/a/x.md") and scope.covers(f"{tmp_path}/one.csv#r7")
    assert not scope.covers(f"{tmp_path}/ab/x.md") and not scope.covers(f"{tmp_path}/b/x.md")


def _hostile_folder(tmp_path: Path) -> Path:
    """A folder as a synced bucket might hold it: a real file, links out of it, links inside it, special files."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("the outside secret")
    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    (d / "real.txt").write_text("a real document")
    (d / "sub" / "inner.md").write_text("# Inner\n\ninner text")
    (d / "passwd.txt").symlink_to("/etc/passwd")
    (d / "p.txt").symlink_to("/proc/self/status")
    (d / "s.txt").symlink_to("../outside/secret.txt")
    (d / "out-dir").symlink_to(outside, target_is_directory=True)
    (d / "gone.txt").symlink_to(d / "missing.txt")
    (d / "alias.md").symlink_to("sub/inner.md")
    os.mkfifo(d / "fifo.txt")
    return d


def test_links_never_leave_the_ingested_paths_and_special_files_are_reported(tmp_path: Path) -> None:
    d = _hostile_folder(tmp_path)
    results = _by_name(_load_all([d]))
    loaded = {name for name, r in results.items() if isinstance(r, Document)}
    assert loaded == {"real.txt", "inner.md"}
    failures = {name: r.error for name, r in results.items() if isinstance(r, LoadFailure)}
    for name in ("passwd.txt", "p.txt", "s.txt", "out-dir"):
        assert "outside the ingested paths" in failures[name], failures
    assert "dangling" in failures["gone.txt"]
    assert "FIFO" in failures["fifo.txt"]
    assert "--follow-links" in failures["alias.md"]
    assert not any("secret" in r.text or "root:" in r.text for r in results.values() if isinstance(r, Document))


def test_follow_links_takes_links_inside_the_paths_only(tmp_path: Path) -> None:
    d = _hostile_folder(tmp_path)
    results = _by_name(list(load(discover([d], SUFFIXES, follow_links=True))))
    loaded = {name: r for name, r in results.items() if isinstance(r, Document)}
    assert set(loaded) == {"real.txt", "inner.md", "alias.md"}
    assert loaded["alias.md"].doc_id == "alias.md" and "inner text" in loaded["alias.md"].text
    failures = {name for name, r in results.items() if isinstance(r, LoadFailure)}
    assert failures == {"passwd.txt", "p.txt", "s.txt", "out-dir", "gone.txt", "fifo.txt"}


def test_a_link_given_on_the_command_line_is_trusted_and_a_fifo_is_reported(tmp_path: Path) -> None:
    d = _hostile_folder(tmp_path)
    assert [type(r).__name__ for r in _load_all([d / "s.txt"])] == ["Document"]  # the operator named it
    [fifo] = _load_all([d / "fifo.txt"])
    assert isinstance(fifo, LoadFailure) and "FIFO" in fifo.error


def test_every_format_loads_fetched_bytes_under_the_documents_uri(tmp_path: Path) -> None:
    """A remote source hands the loaders a scratch file named like its key with the document's URI (S3, web): every
    format reads the file at hand and stores the URI as the source, records included."""
    files = tmp_path / "fetched"
    files.mkdir()
    (files / "a.txt").write_text("Plain text.")
    (files / "b.md").write_text("# Title\n\nMarkdown.")
    (files / "c.html").write_text("<html><title>Page</title><body><main><p>HTML text.</p></main></body></html>")
    _pdf(files / "d.pdf", ["A PDF page."])
    document = docx.Document()
    document.add_paragraph("A DOCX paragraph.")
    document.save(str(files / "e.docx"))
    (files / "f.jsonl").write_text('{"id": "r1", "text": "A record."}\n')
    (files / "g.csv").write_text("id,text\nr1,A row.\n")
    for path in sorted(files.iterdir()):
        uri = f"s3://bucket/kb/{path.name}"
        loaded = list(load([SourceFile(path, path.name, uri=uri)], LoadOptions()))
        assert [type(d) for d in loaded] == [Document], (path.name, loaded)
        assert loaded[0].source.split("#")[0] == uri
