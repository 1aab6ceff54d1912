"""The S3 source's exactness, as a property over random sequences of puts, overwrites (the same bytes again among
them), deletes and syncs, with and without shards, against a real S3 server (SeaweedFS) through a counting proxy.

After each sync (every shard run once, with `--prune`'s predicate):
- the store holds exactly the bucket's objects under the prefix, each with its current text;
- the object bodies fetched (counted at the proxy) are exactly the objects whose ETag changed since the last sync,
  or that are new;
- a re-sync right after fetches no body and embeds nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.chunking import Chunker
from ingest.formats.base import LoadOptions
from ingest.loaders import SUFFIXES
from ingest.partition import Shard
from ingest.source_documents import SourceDocuments
from ingest.sources.s3 import S3Source
from ingest.sync import IngestSummary
from rag.embedding.dense import SentenceTransformerEmbedder
from rag.embedding.sparse import Bm25Encoder
from rag.store.base import StoredDocument
from rag.store.edge import EdgeStore
from tests.support.ingestors import ingestor_into_c
from tests.support.s3_server import CountingProxy, SeaweedS3

KEYS = [f"k{i}.txt" for i in range(5)]
BODIES = [
    b"The backup job runs at midnight.",
    b"Deployments need two approvals.",
    b"The VPN certificate renews every year.",
    b"Laptops are replaced after four years.",
]
PREFIX = "docs/"

Op = tuple[str, int, int]  # ("put", key, body) | ("delete", key, 0) | ("sync", shards, 0)
ops = st.one_of(
    st.tuples(st.just("put"), st.integers(0, len(KEYS) - 1), st.integers(0, len(BODIES) - 1)),
    st.tuples(st.just("delete"), st.integers(0, len(KEYS) - 1), st.just(0)),
    st.tuples(st.just("sync"), st.sampled_from([1, 3]), st.just(0)),
)


def _bucket_etags(client: Any, bucket: str) -> dict[str, str]:
    listed = client.list_objects_v2(Bucket=bucket, Prefix=PREFIX).get("Contents", [])
    return {str(o["Key"]): str(o["ETag"]) for o in listed}


def _sync(
    store: EdgeStore, embedder: SentenceTransformerEmbedder, sparse: Bm25Encoder, client: Any, uri: str, shards: int
) -> list[IngestSummary]:
    summaries = []
    for index in range(shards):
        shard = Shard(index, shards)
        ingestor = ingestor_into_c(
            store, embedder, sparse, Chunker(embedder.tokenizer, chunk_size=200, chunk_overlap=30)
        )
        source = S3Source(uri, SUFFIXES, max_object_bytes=1_000_000, client=client)
        stored = ingestor.stored_documents()
        documents = SourceDocuments([source], stored, LoadOptions(), wanted=shard.owns)
        summaries.append(ingestor.run(documents, prune=_in_shard(shard, documents), stored=stored))
    return summaries


def _in_shard(shard: Shard, documents: SourceDocuments) -> Callable[[StoredDocument], bool]:
    """`--prune`'s predicate for one shard: its own documents, under a source that listed completely."""
    return lambda d: shard.owns(d.doc_id) and documents.prunable(d)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(ops, min_size=1, max_size=10))
def test_sync_keeps_the_store_equal_to_the_bucket_and_fetches_only_changed_etags(
    s3_server: SeaweedS3,
    embedder: SentenceTransformerEmbedder,
    sparse: Bm25Encoder,
    tmp_path_factory: Any,
    steps: list[Op],
) -> None:
    writer, bucket = s3_server.client(), s3_server.new_bucket("prop")
    store = EdgeStore.under(Path(tmp_path_factory.mktemp("prop-store")))
    contents: dict[str, bytes] = {}
    synced: dict[str, str] = {}  # key -> ETag at the last sync
    try:
        with CountingProxy(s3_server.endpoint_url) as proxy:
            reader = s3_server.client(proxy.url)
            for op, a, b in [*steps, ("sync", 1, 0)]:
                if op == "put":
                    key = PREFIX + KEYS[a]
                    writer.put_object(Bucket=bucket, Key=key, Body=BODIES[b])
                    contents[key] = BODIES[b]
                elif op == "delete":
                    key = PREFIX + KEYS[a]
                    writer.delete_object(Bucket=bucket, Key=key)
                    contents.pop(key, None)
                else:
                    etags = _bucket_etags(writer, bucket)
                    proxy.reset()
                    _sync(store, embedder, sparse, reader, f"s3://{bucket}/{PREFIX}", a)
                    changed = {k for k, tag in etags.items() if synced.get(k) != tag}
                    assert set(proxy.object_gets) == {f"/{bucket}/{k}" for k in changed}
                    assert set(proxy.object_gets.values()) <= {1}
                    synced = etags
                    points = store.scroll_points("c") if store.collection_exists("c") else iter(())
                    chunks = {c.doc_id: c.text for batch in points for c in batch.chunks}
                    assert chunks == {k.removeprefix(PREFIX): v.decode() for k, v in contents.items()}
                    # unchanged: nothing fetched, nothing embedded
                    proxy.reset()
                    again = _sync(store, embedder, sparse, reader, f"s3://{bucket}/{PREFIX}", a)
                    assert proxy.object_gets == {} and sum(s.chunks_upserted for s in again) == 0
                    assert sum(s.documents_pruned for s in again) == 0
    finally:
        store.close()
