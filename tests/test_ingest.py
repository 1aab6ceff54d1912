"""Ingestion into a real local Qdrant with the real embedder: identity, skip-unchanged, updates, exit codes."""

import json
from pathlib import Path

import pytest

from ingest.chunking import Chunker
from ingest.loaders import discover, load
from ingest.sync import Ingestor, IngestSummary
from rag.embedding.dense import SentenceTransformerEmbedder
from rag.embedding.sparse import Bm25Encoder
from rag.store.base import VectorStore
from rag_cli.main import main
from tests.conftest import DOCS


class CountingEmbedder:
    """The real embedder, counting the texts it embeds (to prove unchanged documents cost nothing)."""

    def __init__(self, inner: SentenceTransformerEmbedder) -> None:
        self.inner, self.embedded = inner, 0
        self.dimension, self.name = inner.dimension, inner.name

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.embedded += len(texts)
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


def _ingest(
    store: VectorStore, embedder: CountingEmbedder, sparse: Bm25Encoder, paths: list[Path], batch: int = 256
) -> IngestSummary:
    chunker = Chunker(embedder.inner.tokenizer, chunk_size=64, chunk_overlap=8)
    ingestor = Ingestor(store, embedder, sparse, chunker, collection="c", tenant="t", batch_chunks=batch)
    return ingestor.run(load(discover(paths)))


def test_reingest_is_idempotent_and_skips_unchanged_documents(
    store: VectorStore, embedder: SentenceTransformerEmbedder, sparse: Bm25Encoder
) -> None:
    counting = CountingEmbedder(embedder)
    first = _ingest(store, counting, sparse, [DOCS])
    assert first.documents_added == first.documents_seen == len(list(DOCS.glob("*.md")))
    assert first.chunks_upserted == counting.embedded == store.count("c") > first.documents_seen
    second = _ingest(store, counting, sparse, [DOCS])
    assert (second.documents_unchanged, second.chunks_upserted) == (first.documents_seen, 0)
    assert counting.embedded == first.chunks_upserted  # nothing embedded the second time
    assert store.count("c") == first.chunks_upserted


def test_changed_document_replaces_its_chunks(
    tmp_path: Path, store: VectorStore, embedder: SentenceTransformerEmbedder, sparse: Bm25Encoder
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    doc = src / "guide.md"
    doc.write_text("# Guide\n\n" + "Old paragraph about sailing boats. " * 40)
    (src / "other.md").write_text("# Other\n\nUnrelated text about gardens.")
    counting = CountingEmbedder(embedder)
    _ingest(store, counting, sparse, [src])
    old_hashes = store.document_hashes("c", "t")["guide.md"]
    doc.write_text("# Guide\n\nNew short text about trains.")
    summary = _ingest(store, counting, sparse, [src])
    assert (summary.documents_updated, summary.documents_unchanged) == (1, 1)
    hashes = store.document_hashes("c", "t")
    assert len(hashes["guide.md"]) == 1 and hashes["guide.md"] != old_hashes
    assert store.count("c") == summary.chunks_upserted + 1  # the new guide chunk(s) plus the untouched other.md


def test_interrupted_update_converges_on_rerun(
    tmp_path: Path, store: VectorStore, embedder: SentenceTransformerEmbedder, sparse: Bm25Encoder
) -> None:
    """Simulate a crash between upserting a new version and sweeping the old one: a rerun converges."""
    src = tmp_path / "src"
    src.mkdir()
    doc = src / "a.txt"
    doc.write_text("version one " * 50)
    counting = CountingEmbedder(embedder)
    _ingest(store, counting, sparse, [src])
    doc.write_text("version two " * 10)
    store.delete_stale = lambda *a, **k: None  # type: ignore[method-assign]  # the crash: no sweep
    _ingest(store, counting, sparse, [src])
    assert len(store.document_hashes("c", "t")["a.txt"]) == 2  # both versions searchable, none lost
    del store.delete_stale
    summary = _ingest(store, counting, sparse, [src])
    assert summary.documents_updated == 1
    assert len(store.document_hashes("c", "t")["a.txt"]) == 1
    assert store.count("c") == summary.chunks_upserted


def test_cli_json_summary_and_exit_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RAG_QDRANT_PATH", str(tmp_path / "q"))
    src = tmp_path / "src"
    src.mkdir()
    (src / "good.md").write_text("# Good\n\nA fine document.")
    assert main(["ingest", str(src), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    expected = {"documents_seen", "documents_added", "documents_updated", "documents_unchanged"}
    assert expected | {"chunks_upserted", "failed", "seconds"} <= set(summary)
    assert summary["documents_added"] == 1 and summary["failed"] == []

    (src / "broken.txt").write_bytes(b"\x00\x01binary")
    (src / "new.txt").write_text("Another good one.")
    assert main(["ingest", str(src), "--json"]) == 1
    out = capsys.readouterr()
    summary = json.loads(out.out)
    assert summary["failed"] == [{"path": str(src / "broken.txt"), "error": "binary content (NUL bytes), not text"}]
    assert (summary["documents_added"], summary["documents_unchanged"]) == (1, 1)  # the rest still went in
    assert "broken.txt" in out.err

    assert main(["ingest", str(tmp_path / "missing")]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["ingest"])
    assert exc.value.code == 2
