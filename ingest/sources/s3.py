"""S3-compatible object stores as a source (`s3://BUCKET/PREFIX`), through boto3.

Endpoint, credentials and region come from boto3's own configuration and nothing else: `AWS_ENDPOINT_URL`,
`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_PROFILE` and shared files, web identity
(`AWS_ROLE_ARN` + `AWS_WEB_IDENTITY_TOKEN_FILE`, as Kubernetes injects them), retries (`AWS_MAX_ATTEMPTS`). So every
S3-compatible store works (MinIO, SeaweedFS, Ceph, GCS's XML API, R2...).

The listing is ListObjectsV2 with pagination. A document's id is its key under the prefix, its `source` is
`s3://bucket/key`, its format comes from the key's suffix, and its change token is the object's ETag (a multipart
upload's ETag, `"<md5 of md5s>-<parts>"`, is as good a token as any: it changes when the object is written again).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from ingest.sources.base import (
    BEIR_CORPUS_NAME,
    Fetched,
    FetchResult,
    Gone,
    KnownTokens,
    Listed,
    ListingFailed,
    SourceFile,
    Unfetched,
    UsageError,
    selected,
)

_READ_BYTES = 1 << 20
_CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/prefix` -> (bucket, prefix); UsageError when there is no bucket."""
    rest = uri[len("s3://") :]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise UsageError(f"'{uri}': expected s3://BUCKET/PREFIX")
    return bucket, prefix


def _redacted(text: str) -> str:
    """`text` with any credential boto3 may have been given replaced, so that no error or log line holds one."""
    for name in _CREDENTIAL_VARIABLES:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return text


def _error(exc: BaseException) -> str:
    """One line for a boto3 or network error, without credentials."""
    return _redacted(f"{type(exc).__name__}: {exc}".splitlines()[0])


def _not_found(exc: BaseException) -> bool:
    response = getattr(exc, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return code in ("NoSuchKey", "404", "NotFound")


class S3Source:
    """The objects under `s3://bucket/prefix` whose key has a supported suffix (or is a BEIR `corpus.jsonl`)."""

    follows_links = False

    def __init__(
        self,
        uri: str,
        suffixes: Collection[str],
        *,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        max_object_bytes: int,
        holds_many: Callable[[str], bool] = lambda key: False,
        fetch_workers: int = 8,
        client: Any = None,
    ) -> None:
        """`max_object_bytes`: a one-document object larger than this is refused without downloading it.
        `holds_many(name)`: objects of many documents (records), streamed whatever their size."""
        self._bucket, self._prefix = parse_s3_uri(uri)
        self._suffixes, self._include, self._exclude = suffixes, include, exclude
        self._max_bytes, self._holds_many = max_object_bytes, holds_many
        self.fetch_workers = max(1, fetch_workers)
        if client is None:
            import boto3  # the S3 route only: other runs start without it
            from botocore.config import Config

            # a session of its own, which reads boto3's configuration now (boto3's default session keeps what it
            # read first: a second run in one process would reuse the first one's endpoint and credentials)
            session = boto3.session.Session()
            client = session.client("s3", config=Config(max_pool_connections=max(10, self.fetch_workers)))
        self._client = client

    @property
    def uri(self) -> str:
        return f"s3://{self._bucket}/{self._prefix}"

    def covers(self, stored_source: str) -> bool:
        """S3 prefixes are plain string prefixes: `s3://b/docs` lists `docs/a.txt` and `docs-old/b.txt` alike."""
        return stored_source.split("#", 1)[0].startswith(self.uri)

    def _doc_id(self, key: str) -> str:
        return key[len(self._prefix) :].lstrip("/")

    def _takes(self, key: str) -> bool:
        name = PurePosixPath(key).name
        if key.endswith("/") or not name:
            return False  # a "folder" marker
        if PurePosixPath(name).suffix.lower() not in self._suffixes and name != BEIR_CORPUS_NAME:
            return False
        return selected(self._doc_id(key), self._include, self._exclude)

    def listing(self, wanted: Callable[[str], bool]) -> Iterator[Listed]:
        pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=self._prefix)
        try:
            for page in pages:
                for item in page.get("Contents", ()):
                    key = str(item["Key"])
                    if not self._takes(key):
                        continue
                    doc_id, many = self._doc_id(key), self._holds_many(PurePosixPath(key).name)
                    if not many and not wanted(doc_id):
                        continue
                    uri, size = f"s3://{self._bucket}/{key}", int(item.get("Size", 0))
                    yield Listed(doc_id, uri, str(item.get("ETag", "")), size, many=many)
        except Exception as exc:  # botocore's ClientError, EndpointConnectionError, ReadTimeout...
            raise ListingFailed(f"listing {self.uri} failed part-way: {_error(exc)}") from None

    def fetch(self, listed: Listed, known: KnownTokens) -> FetchResult:
        key = listed.uri[len(f"s3://{self._bucket}/") :]
        name = PurePosixPath(key).name
        many = self._holds_many(name)
        if not many and listed.size is not None and listed.size > self._max_bytes:
            return Unfetched(listed.doc_id, listed.uri, f"object larger than the {self._max_bytes:,}-byte limit")
        scratch = Path(tempfile.mkdtemp(prefix="rag-s3-"))
        try:
            response = self._client.get_object(Bucket=self._bucket, Key=key)
            downloaded = 0
            with (scratch / name).open("wb") as out:
                for block in response["Body"].iter_chunks(_READ_BYTES):
                    downloaded += len(block)
                    if not many and downloaded > self._max_bytes:
                        response["Body"].close()
                        raise _TooLarge(f"object larger than the {self._max_bytes:,}-byte limit")
                    out.write(block)
        except _TooLarge as exc:
            _remove(scratch)
            return Unfetched(listed.doc_id, listed.uri, str(exc))
        except Exception as exc:
            _remove(scratch)
            if _not_found(exc):
                return Gone(listed.doc_id, listed.uri, "deleted since it was listed")
            return Unfetched(listed.doc_id, listed.uri, f"cannot fetch: {_error(exc)}", transient=True)
        token = str(response.get("ETag", listed.token))
        file = SourceFile(scratch / name, listed.doc_id, uri=listed.uri)
        return Fetched(file, token, downloaded, scratch)

    def close(self) -> None:
        self._client.close()


class _TooLarge(Exception):
    pass


def _remove(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
