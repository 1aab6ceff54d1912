"""Limits that bound what a file expands to, for every format: each bomb is one reported failure, the files and
records around it still load, and nothing is read whole that could be large (benchmarks/ingest_bombs.py measures
the peak memory at full size)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.ingest_bombs import (
    huge_field_csv,
    inflating_pdf,
    one_record_jsonl,
    oversized_records_jsonl,
    shared_kids_pdf,
    text_bomb_docx,
    zero_part_docx,
)
from ingest.chunking import Chunker
from ingest.formats.base import LoadFailure, LoadOptions
from ingest.loaders import SUFFIXES, load
from ingest.sources.local import discover
from ingest.sync import Ingestor
from rag.access.document_access import Reader
from rag.domain import Document
from rag.embedding.dense import SentenceTransformerEmbedder
from rag.embedding.sparse import Bm25Encoder
from rag.store.base import VectorStore
from tests.support.ingestors import ingestor_into_c

KB = 1000
SMALL = LoadOptions(max_record_bytes=100 * KB, max_expanded_bytes=1_000 * KB, max_document_chars=50_000, max_pages=50)


def _load(path: Path, options: LoadOptions = SMALL) -> list[Document | LoadFailure]:
    return list(load(discover([path], SUFFIXES), options))


def _only_failure(results: list[Document | LoadFailure]) -> str:
    assert len(results) == 1 and isinstance(results[0], LoadFailure), results
    return results[0].error


def test_a_docx_part_that_inflates_past_the_limit_is_refused_before_parsing(tmp_path: Path) -> None:
    bomb = zero_part_docx(tmp_path / "zeros.docx", 3_000_000)
    assert bomb.stat().st_size < 100 * KB
    assert "RAG_INGEST_MAX_EXPANDED_MB" in _only_failure(_load(bomb))
    assert isinstance(_load(bomb, LoadOptions())[0], Document)  # within the default limit it is a document


def test_docx_and_record_text_over_the_document_limit_is_refused(tmp_path: Path) -> None:
    assert "RAG_INGEST_MAX_DOCUMENT_CHARS" in _only_failure(_load(text_bomb_docx(tmp_path / "t.docx", 80_000)))
    assert "RAG_INGEST_MAX_DOCUMENT_CHARS" in _only_failure(_load(one_record_jsonl(tmp_path / "r.jsonl", 60_000)))


def test_a_pdf_page_tree_sharing_its_kids_is_refused_by_pages(tmp_path: Path) -> None:
    pdf = shared_kids_pdf(tmp_path / "pages.pdf", fanout=4, levels=3)  # 64 pages from 7 objects
    assert "RAG_INGEST_MAX_PAGES" in _only_failure(_load(pdf))
    [doc] = _load(pdf, LoadOptions(max_pages=64))
    assert isinstance(doc, Document) and doc.metadata["pages"] == 64


def test_a_pdf_stream_that_inflates_past_the_limit_is_refused(tmp_path: Path) -> None:
    pdf = inflating_pdf(tmp_path / "inflating.pdf", 3_000_000)
    assert "RAG_INGEST_MAX_EXPANDED_MB" in _only_failure(_load(pdf))


def test_oversized_records_are_skipped_and_the_rest_of_the_file_loads(tmp_path: Path) -> None:
    path = oversized_records_jsonl(tmp_path / "r.jsonl", 600 * KB, 200 * KB)
    with path.open("a") as f:
        f.write('{"id": "fine", "text": "a record of normal size"}\n')
    results = _load(path)
    failures = [r for r in results if isinstance(r, LoadFailure)]
    assert [f.path for f in failures] == [f"{path}:{n}" for n in (1, 2, 3)]
    assert all("RAG_INGEST_MAX_RECORD_MB" in f.error for f in failures)
    assert [r.doc_id for r in results if isinstance(r, Document)] == ["r.jsonl#fine"]


def test_a_csv_field_over_the_record_limit_is_skipped_and_later_rows_load(tmp_path: Path) -> None:
    results = _load(huge_field_csv(tmp_path / "rows.csv", 300 * KB))
    assert [r.doc_id for r in results if isinstance(r, Document)] == ["rows.csv#small", "rows.csv#last"]
    [failure] = [r for r in results if isinstance(r, LoadFailure)]
    assert failure.path == f"{tmp_path / 'rows.csv'}:3" and "RAG_INGEST_MAX_RECORD_MB" in failure.error


def test_a_document_over_the_chunk_limit_is_reported_and_what_was_stored_stays(
    vector_store: VectorStore, embedder: SentenceTransformerEmbedder, sparse: Bm25Encoder
) -> None:
    chunker = Chunker(embedder.tokenizer, chunk_size=32, chunk_overlap=0)

    def ingestor(max_chunks: int) -> Ingestor:
        return ingestor_into_c(vector_store, embedder, sparse, chunker, max_chunks=max_chunks)

    short = Document("d", "A short first version.", "T", "src")
    assert ingestor(5).run([short]).documents_added == 1
    long = Document("d", " ".join(f"Sentence number {i} of a long second version." for i in range(100)), "T", "src")
    summary = ingestor(5).run([long])
    assert summary.chunks_upserted == 0
    assert [f["error"] for f in summary.failed] == ["more than 5 chunks (RAG_INGEST_MAX_CHUNKS)"]
    assert vector_store.documents("c", Reader.whole_tenant("t"))[0].hashes == {
        short.doc_hash
    }  # the stored version is untouched
