"""How ingestion sets who may see a document (records' fields, an access manifest, the run's flags), and that a
change of access alone is one payload update per document, never an embedding."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from ingest.access_rules import AccessManifestError, AccessRule, AccessRules, read_manifest
from ingest.chunking import Chunker
from rag.access.document_access import DocumentAccess, Reader
from rag.domain import Document
from rag.embedding.dense import SentenceTransformerEmbedder
from rag.embedding.sparse import Bm25Encoder
from rag.store.edge import EdgeStore
from tests.support.cli import run_cli
from tests.support.ingestors import ingestor_into_c
from tests.support.launcher import rag_env

HR = DocumentAccess.of(groups=["hr"])
ENG = DocumentAccess.of(groups=["eng"], users=["erik"])


class CountingFlatEmbedder:
    """A deterministic embedder that counts what it embeds: the sync's logic is what is tested here."""

    dimension, name = 4, "flat"

    def __init__(self) -> None:
        self.embedded = 0

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        self.embedded += len(texts)
        return [[1.0, 0.0, 0.0, 0.0] for _ in texts]

    def embed_query(self, text: str) -> list[float]:
        return [1.0, 0.0, 0.0, 0.0]


def _visible(store: EdgeStore, groups: set[str]) -> set[str]:
    reader = Reader("t", everything=False, subject="someone", groups=frozenset(groups))
    return {d.doc_id for d in store.documents("c", reader)}


def test_an_access_only_change_on_1000_documents_embeds_nothing_and_takes_effect(
    tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    store, counting = EdgeStore.under(tmp_path), CountingFlatEmbedder()
    chunker = Chunker(embedder.tokenizer, chunk_size=200, chunk_overlap=0)
    docs = [Document(f"d{i}", f"Document {i} of the archive.", "", f"src/{i}", access=HR) for i in range(1000)]

    def ingest(documents: list[Document]) -> dict[str, int]:
        ingestor = ingestor_into_c(store, counting, Bm25Encoder(), chunker)  # type: ignore[arg-type]
        summary = ingestor.run(documents).to_json()
        return {k: v for k, v in summary.items() if k.startswith(("documents_", "chunks_"))}

    try:
        assert ingest(docs)["documents_added"] == 1000 and counting.embedded == 1000
        assert len(_visible(store, {"hr"})) == 1000 and not _visible(store, {"eng"})
        moved = [Document(d.doc_id, d.text, d.title, d.source, access=ENG) for d in docs[:600]] + docs[600:]
        summary = ingest(moved)
        assert summary["documents_access_updated"] == 600 and summary["documents_unchanged"] == 400
        assert summary["chunks_upserted"] == 0 and counting.embedded == 1000  # nothing embedded again
        assert len(_visible(store, {"eng"})) == 600 and len(_visible(store, {"hr"})) == 400  # the next read
        assert ingest(moved)["documents_unchanged"] == 1000  # converged
        untouched = ingest([Document(d.doc_id, d.text, d.title, d.source) for d in moved])  # access removed
        assert untouched["documents_access_updated"] == 1000 and _visible(store, set()) == {d.doc_id for d in docs}
    finally:
        store.close()


def test_the_first_rule_that_matches_wins_then_the_runs_own_access() -> None:
    rules = AccessRules([AccessRule("hr/*", HR), AccessRule("*.pdf", ENG)], fallback=DocumentAccess(True))
    assert rules.access_for("hr/pay/2026.pdf") == HR  # `*` crosses folders; the first rule wins
    assert rules.access_for("legal/contract.pdf") == ENG  # a glob without `/` matches the file name
    assert rules.access_for("notes.jsonl#7") == DocumentAccess(True)
    own = Document("hr/x.md", "x", "", "s", access=ENG)
    assert [d.access for d in rules.apply([own, Document("hr/y.md", "y", "", "s")])] == [ENG, HR]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("match: x", "expected a list of rules"),
        ("- groups: [hr]", "needs 'match: GLOB'"),
        ("- match: a\n  groups: hr", "'groups' must be a list"),
        ("- match: a\n  owner: me", "unknown keys owner"),
        ("- match: a\n  groups: ['']", "group names are 1 to"),
        ("- match: [", "not YAML"),
    ],
)
def test_a_bad_manifest_is_refused_with_its_file_and_rule(tmp_path: Path, text: str, error: str) -> None:
    manifest = tmp_path / "access.yaml"
    manifest.write_text(text)
    with pytest.raises(AccessManifestError, match=error) as exc:
        read_manifest(manifest)
    assert str(manifest) in str(exc.value)


def test_rag_ingest_takes_access_from_records_a_manifest_and_its_flags(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    (folder / "hr").mkdir(parents=True)
    (folder / "hr" / "pay.md").write_text("# Pay\n\nPay bands.")
    (folder / "guide.md").write_text("# Guide\n\nHow we work.")
    records = [
        {"id": "1", "text": "Record for legal.", "access_groups": ["legal"], "team": "x"},
        {"id": "2", "text": "Record for everyone.", "access_tenant_wide": True},
        {"id": "3", "text": "Record without access."},
    ]
    (folder / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    manifest = tmp_path / "access.yaml"
    manifest.write_text('- match: "hr/*"\n  groups: [hr]\n')
    store_path = tmp_path / "store"
    args = ["ingest", str(folder), "--access-manifest", str(manifest), "--access-groups", "staff", "--json"]
    result = run_cli(args, rag_env(store_path))
    assert result.returncode == 0, result.stderr
    store = EdgeStore.under(store_path)
    try:
        access = {d.doc_id: d.access for d in store.documents("docs", Reader.whole_tenant("default"))}
        metadata = {c.doc_id: c.metadata for batch in store.scroll_points("docs") for c in batch.chunks}
    finally:
        store.close()
    assert access == {
        "hr/pay.md": {HR},
        "guide.md": {DocumentAccess.of(groups=["staff"])},
        "records.jsonl#1": {DocumentAccess.of(groups=["legal"])},
        "records.jsonl#2": {DocumentAccess(True)},
        "records.jsonl#3": {DocumentAccess.of(groups=["staff"])},
    }
    assert metadata["records.jsonl#1"]["team"] == "x" and not any("access" in k for k in metadata["records.jsonl#1"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("- groups: [hr]")
    refused = run_cli(["ingest", str(folder), "--access-manifest", str(bad)], rag_env(tmp_path / "other"))
    assert refused.returncode == 2 and f"rag ingest: {bad}: rule 1" in refused.stderr
    assert not (tmp_path / "other").exists()  # nothing was stored
