"""qdrant-client's remote engine: a Qdrant server (a StatefulSet, a cluster, Qdrant Cloud) at a URL.

Calls run concurrently (the client is thread-safe); transport failures and the server's error answers become the
platform's errors, a 404 a missing collection. The server builds HNSW and payload indexes in the background.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from rag.errors import BackendUnavailable
from rag.store.engine import MissingCollection
from rag.store.index import HnswParams


class ServerEngine:
    indexes_payload = True

    def __init__(self, url: str, *, api_key: str | None, timeout_s: float) -> None:
        self.location = f"qdrant:{url}"
        self.client = QdrantClient(url=url, api_key=api_key, timeout=int(timeout_s))

    @contextmanager
    def guard(self) -> Iterator[None]:
        try:
            yield
        except (ResponseHandlingException, ConnectionError, TimeoutError) as exc:
            raise BackendUnavailable("the vector store is unreachable") from exc
        except UnexpectedResponse as exc:
            if exc.status_code == 404:
                raise MissingCollection from exc
            raise BackendUnavailable(f"the vector store answered {exc.status_code}") from exc

    def search_params(self, hnsw: HnswParams, exact: bool) -> models.SearchParams:
        return models.SearchParams(hnsw_ef=hnsw.ef, exact=exact)

    def close(self) -> None:
        self.client.close()
