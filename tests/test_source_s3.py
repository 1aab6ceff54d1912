"""`rag ingest s3://BUCKET/PREFIX` against a real S3 server (SeaweedFS on loopback, tests/support/s3_server.py),
through a counting proxy: what the command fetched is counted at the proxy, never by the code under test.

The exactness property over random puts, overwrites, deletes and syncs is tests/test_source_s3_properties.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ingest.chunking import Chunker
from ingest.formats.base import LoadOptions
from ingest.loaders import SUFFIXES
from ingest.source_documents import SourceDocuments
from ingest.sources.s3 import S3Source
from ingest.sync import IngestSummary
from rag.access.document_access import Reader
from rag.embedding.dense import SentenceTransformerEmbedder
from rag.embedding.sparse import Bm25Encoder
from rag.store.base import StoredDocument
from rag.store.edge import EdgeStore
from tests.support.cli import CliResult, run_cli
from tests.support.ingestors import ingestor_into_c
from tests.support.launcher import rag_env
from tests.support.s3_server import CountingProxy, SeaweedS3

MiB = 1024 * 1024
PAGED = 1_050  # more keys than one ListObjectsV2 page (1,000)


def _put_all(client: Any, bucket: str, objects: dict[str, bytes]) -> None:
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda kv: client.put_object(Bucket=bucket, Key=kv[0], Body=kv[1]), objects.items()))


def _put_multipart(client: Any, bucket: str, key: str, parts: list[bytes]) -> str:
    upload = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    done = [
        {
            "PartNumber": n,
            "ETag": client.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=n, Body=b)["ETag"],
        }
        for n, b in enumerate(parts, start=1)
    ]
    client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": done})
    return str(client.head_object(Bucket=bucket, Key=key)["ETag"])


def _ingest(env: dict[str, str], *args: str) -> tuple[CliResult, dict[str, Any]]:
    result = run_cli(["ingest", *args, "--json"], env)
    return result, json.loads(result.stdout)


def _stored(qdrant: Path) -> dict[str, StoredDocument]:
    """The default tenant's documents in the default collection (`docs`), as the command stored them."""
    store = EdgeStore.under(qdrant)
    try:
        return {d.doc_id: d for d in store.documents("docs", Reader.whole_tenant("default"))}
    finally:
        store.close()


def _note(i: int) -> bytes:
    return f"Note {i}: the maintenance window of service {i} is on day {i % 28 + 1} of each month.".encode()


def test_a_paged_prefix_syncs_exactly_fetching_only_changed_objects_and_a_stopped_server_prunes_nothing(
    tmp_path: Path,
) -> None:
    """One server of its own (the test stops it): more than a page of keys, a multipart object, objects over the
    limits, keys outside the prefix or of no supported format; then changes; then the server killed mid-listing."""
    server = SeaweedS3(tmp_path / "s3").start()
    try:
        client, bucket = server.client(), server.new_bucket()
        notes = {f"docs/notes/n{i:04}.txt": _note(i) for i in range(PAGED)}
        _put_all(client, bucket, notes)
        others = {"other/outside.txt": b"Outside the prefix.", "docs/archive.zip": b"PK\x03\x04", "docs/folder/": b""}
        _put_all(client, bucket, {**others, "docs/huge.md": b"# Huge\n" + b"x" * (7 * MiB)})
        # a multipart object (parts of 5 MiB but the last): a short text, then blank lines to fill the parts
        multipart = [b"Multipart handbook: the release train leaves on Tuesdays.\n" + b"\n" * (5 * MiB), b"\nEnd.\n"]
        etag = _put_multipart(client, bucket, "docs/big.txt", multipart)
        assert etag.strip('"').endswith("-2")

        qdrant = tmp_path / "q"
        limits = {"RAG_INGEST_MAX_FILE_MB": "6", "RAG_INGEST_MAX_DOCUMENT_CHARS": "6000000"}
        with CountingProxy(server.endpoint_url) as proxy:
            env = {**rag_env(qdrant, **limits), **server.env(proxy.url)}
            # the big object is under the 6 MB limit, huge.md is not: with a 1.5 MB limit both would be refused
            env["RAG_INGEST_MAX_FILE_MB"] = "1.5"
            result, summary = _ingest(env, f"s3://{bucket}/docs/")
            assert result.returncode == 1
            refused = {f["path"] for f in summary["failed"]}
            assert refused == {f"s3://{bucket}/docs/huge.md", f"s3://{bucket}/docs/big.txt"}
            assert all("larger than the 1,500,000-byte limit" in f["error"] for f in summary["failed"])
            assert not any("huge" in key or "big" in key for key in proxy.object_gets)  # refused unread
            assert proxy.list_requests >= 2  # the listing paged

            env["RAG_INGEST_MAX_FILE_MB"] = "6"
            proxy.reset()
            result, summary = _ingest(env, f"s3://{bucket}/docs/")
            assert result.returncode == 1 and [f["path"] for f in summary["failed"]] == [f"s3://{bucket}/docs/huge.md"]
            fetched = {f"/{bucket}/{key}" for key in [*notes, "docs/big.txt"]}
            assert set(proxy.object_gets) == fetched and set(proxy.object_gets.values()) == {1}
            assert summary["documents_fetched"] == PAGED + 1 and summary["bytes_downloaded"] == proxy.object_bytes
            stored = _stored(qdrant)
            assert set(stored) == {key.removeprefix("docs/") for key in notes} | {"big.txt"}
            assert stored["notes/n0007.txt"].source == f"s3://{bucket}/docs/notes/n0007.txt"

            # unchanged: listed, nothing downloaded, nothing embedded (the multipart ETag included)
            proxy.reset()
            result, summary = _ingest(env, f"s3://{bucket}/docs/")
            assert proxy.object_gets == {} and proxy.object_bytes == 0
            assert summary["chunks_upserted"] == 0 and summary["documents_not_modified"] == PAGED + 1

            # a changed object, one overwritten with the same bytes (same ETag), one deleted, one new
            client.put_object(Bucket=bucket, Key="docs/notes/n0001.txt", Body=b"Note 1: the window moved to Fridays.")
            client.put_object(Bucket=bucket, Key="docs/notes/n0002.txt", Body=notes["docs/notes/n0002.txt"])
            client.delete_object(Bucket=bucket, Key="docs/notes/n0003.txt")
            client.put_object(Bucket=bucket, Key="docs/notes/new.txt", Body=b"A new note on backups.")
            proxy.reset()
            result, summary = _ingest(env, f"s3://{bucket}/docs/", "--prune")
            assert set(proxy.object_gets) == {f"/{bucket}/docs/notes/n0001.txt", f"/{bucket}/docs/notes/new.txt"}
            assert (summary["documents_updated"], summary["documents_added"], summary["documents_pruned"]) == (1, 1, 1)
            assert summary["chunks_upserted"] == 2
            stored = _stored(qdrant)
            assert "notes/n0003.txt" not in stored and "notes/new.txt" in stored

            # the server stops during the listing's second page: a clear error, exit 1, nothing pruned
            client.delete_object(Bucket=bucket, Key="docs/notes/n0004.txt")  # would be pruned by a whole listing
            proxy.reset()
            proxy.before_list_page = lambda page: server.kill() if page == 2 else None
            result, summary = _ingest(env, f"s3://{bucket}/docs/", "--prune")
            assert result.returncode == 1, result.stderr
            assert summary["documents_pruned"] == 0, (summary, result.stderr[-2000:])
            assert summary["incomplete"] == [f"s3://{bucket}/docs/"]
            assert any(
                f["path"] == f"s3://{bucket}/docs/" and "failed part-way" in f["error"] for f in summary["failed"]
            )
            assert "listing" in result.stderr and "failed part-way" in result.stderr
            assert "notes/n0004.txt" in _stored(qdrant) and len(_stored(qdrant)) == PAGED + 1
            everything = result.stdout + result.stderr
            assert server.secret_key not in everything and server.access_key not in everything
    finally:
        server.stop()


def test_shards_download_each_changed_object_once_in_all(s3_server: SeaweedS3, tmp_path: Path) -> None:
    client, bucket = s3_server.client(), s3_server.new_bucket()
    objects = {f"p/d{i:03}.md": b"# Doc %d\n\nAbout team %d's on-call rota." % (i, i) for i in range(120)}
    _put_all(client, bucket, objects)
    with CountingProxy(s3_server.endpoint_url) as proxy:
        env = {**rag_env(tmp_path / "q"), **s3_server.env(proxy.url)}

        def sync_all_shards() -> list[dict[str, Any]]:
            return [_ingest(env, f"s3://{bucket}/p", "--shard", f"{i}/4", "--prune")[1] for i in range(4)]

        summaries = sync_all_shards()
        assert sum(s["documents_listed"] for s in summaries) == len(objects), summaries  # each lists only its own
        assert set(proxy.object_gets) == {f"/{bucket}/{k}" for k in objects} and set(proxy.object_gets.values()) == {1}
        changed = {"p/d005.md", "p/d077.md", "p/d110.md"}
        for key in changed:
            client.put_object(Bucket=bucket, Key=key, Body=objects[key] + b"\nUpdated.")
        proxy.reset()
        summaries = sync_all_shards()
        assert set(proxy.object_gets) == {f"/{bucket}/{k}" for k in changed} and sum(proxy.object_gets.values()) == 3
        assert proxy.object_bytes == sum(len(objects[k]) + len(b"\nUpdated.") for k in changed)
        assert (
            sum(s["documents_updated"] for s in summaries) == 3 and sum(s["documents_pruned"] for s in summaries) == 0
        )


def test_records_in_an_object_are_read_again_only_when_it_changes(s3_server: SeaweedS3, tmp_path: Path) -> None:
    client, bucket = s3_server.client(), s3_server.new_bucket()
    rows = [
        {"id": f"r{i}", "text": f"Record {i} of the price list.", **({"access_groups": ["sales"]} if i == 0 else {})}
        for i in range(5)
    ]
    client.put_object(Bucket=bucket, Key="records.jsonl", Body="\n".join(json.dumps(r) for r in rows).encode())
    with CountingProxy(s3_server.endpoint_url) as proxy:
        env = {**rag_env(tmp_path / "q"), **s3_server.env(proxy.url)}
        first = _ingest(env, f"s3://{bucket}/", "--access-groups", "staff")[1]
        assert first["documents_added"] == 5 and sum(proxy.object_gets.values()) == 1
        proxy.reset()
        again = _ingest(env, f"s3://{bucket}/", "--access-groups", "staff")[1]
        assert proxy.object_gets == {} and again["documents_unchanged"] == 5 and again["documents_access_updated"] == 0
        stored = _stored(tmp_path / "q")
        own, rest = stored["records.jsonl#r0"].access, stored["records.jsonl#r1"].access
        assert own != rest  # the record's own access kept, not the run's
        # other access rules: the file is read again, as its records' access may come from them
        changed = _ingest(env, f"s3://{bucket}/", "--access-groups", "staff,interns")[1]
        assert sum(proxy.object_gets.values()) == 1 and changed["documents_access_updated"] == 4
        assert _stored(tmp_path / "q")["records.jsonl#r0"].access == own


def test_an_unknown_bucket_or_bad_uri_is_a_clear_error(s3_server: SeaweedS3, tmp_path: Path) -> None:
    env = {**rag_env(tmp_path / "q"), **s3_server.env()}
    missing = run_cli(["ingest", "s3://no-such-bucket-here/x/", "--prune"], env)
    assert missing.returncode == 1 and "listing s3://no-such-bucket-here/x/ failed part-way" in missing.stderr
    assert s3_server.secret_key not in missing.stdout + missing.stderr
    bad = run_cli(["ingest", "s3:///nobucket"], env)
    assert bad.returncode == 2 and "expected s3://BUCKET/PREFIX" in bad.stderr


def test_a_sync_stopped_part_way_resumes_without_fetching_again_what_it_stored(
    s3_server: SeaweedS3, embedder: SentenceTransformerEmbedder, sparse: Bm25Encoder, tmp_path: Path
) -> None:
    """Stopped after its first batches (as a killed job stops between writes), a rerun fetches only the objects whose
    chunks did not reach the store: the tokens are written with the chunks."""
    client, bucket = s3_server.client(), s3_server.new_bucket()
    objects = {f"d/o{i:03}.txt": _note(i) for i in range(60)}
    _put_all(client, bucket, objects)
    store = EdgeStore.under(tmp_path / "q")
    chunker = Chunker(embedder.tokenizer, chunk_size=200, chunk_overlap=30)
    try:
        with CountingProxy(s3_server.endpoint_url) as proxy:
            reader = s3_server.client(proxy.url)

            def sync(stop: Callable[[IngestSummary], str | None] | None) -> IngestSummary:
                ingestor = ingestor_into_c(store, embedder, sparse, chunker, batch_chunks=8)
                stored = ingestor.stored_documents()
                source = S3Source(f"s3://{bucket}/d/", SUFFIXES, max_object_bytes=1_000_000, client=reader)
                return ingestor.run(SourceDocuments([source], stored, LoadOptions()), stop=stop, stored=stored)

            first = sync(lambda s: "stopped" if s.chunks_upserted >= 16 else None)
            assert first.stopped == "stopped" and first.chunks_upserted == 16
            stored_first = {d.doc_id for d in store.documents("c")}
            assert len(stored_first) == 16 and sum(proxy.object_gets.values()) > 16  # it had fetched ahead
            proxy.reset()
            second = sync(None)
            stored_keys = {f"/{bucket}/d/{doc_id}" for doc_id in stored_first}
            assert set(proxy.object_gets) == {f"/{bucket}/{k}" for k in objects} - stored_keys
            assert second.documents_added == 60 - 16 and second.documents_unchanged == 16
    finally:
        store.close()


def test_an_access_manifest_matches_keys_and_its_changes_apply_without_fetching(
    s3_server: SeaweedS3, tmp_path: Path
) -> None:
    client, bucket = s3_server.client(), s3_server.new_bucket()
    _put_all(
        client, bucket, {"kb/hr/leave.md": b"# Leave\n\nTwenty-five days.", "kb/eng/oncall.md": b"# On call\n\nWeekly."}
    )
    manifest = tmp_path / "access.yaml"
    manifest.write_text('- match: "hr/*"\n  groups: [hr]\n')
    with CountingProxy(s3_server.endpoint_url) as proxy:
        env = {**rag_env(tmp_path / "q"), **s3_server.env(proxy.url)}
        args = [f"s3://{bucket}/kb/", "--access-manifest", str(manifest), "--access-tenant-wide"]
        assert _ingest(env, *args)[1]["documents_added"] == 2
        stored = _stored(tmp_path / "q")
        hr, eng = next(iter(stored["hr/leave.md"].access)), next(iter(stored["eng/oncall.md"].access))
        assert hr is not None and hr.groups == {"hr"} and not hr.tenant_wide
        assert eng is not None and eng.tenant_wide
        manifest.write_text('- match: "hr/*"\n  groups: [hr, managers]\n')
        proxy.reset()
        changed = _ingest(env, *args)[1]
        assert proxy.object_gets == {}  # access is not content: set in place, nothing fetched or embedded
        assert changed["documents_access_updated"] == 1 and changed["chunks_upserted"] == 0
        hr = next(iter(_stored(tmp_path / "q")["hr/leave.md"].access))
        assert hr is not None and hr.groups == {"hr", "managers"}
