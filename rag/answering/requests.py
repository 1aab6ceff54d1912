"""The requests of every entry point, built in one place from the settings, the caller and what was asked.

The chat and retrieve endpoints, the document endpoints, `rag ask|ingest|delete|copy` and the evaluation harness
all turn their fields into a `Target`, a `RetrievalRequest` or a `ChatRequest` here: a default (`RAG_COLLECTION`,
`RAG_TENANT`, `RAG_TOP_K`, `RAG_RETRIEVAL_MODE`, `RAG_MIN_RELEVANCE`, `RAG_MAX_TOKENS`, `RAG_TEMPERATURE`) is filled
in by this module only, and a field every request gains is added to these types and this builder.

Every read is for a `Reader` made here from the caller (`reader`): an API caller's principal sees what its role and
the documents' access allow (`RAG_DEFAULT_ACCESS` for documents that declare none); the operator's CLI and the
evaluations, which name a tenant (or take `RAG_TENANT`), see all of that tenant's documents.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag.access.document_access import Reader
from rag.access.identity import Principal
from rag.answering.retrieval import RetrievalRequest
from rag.domain import RetrievalMode
from rag.settings import Settings
from rag.store.base import PayloadFilter

if TYPE_CHECKING:
    from rag.answering.prompts import Turn


@dataclass(frozen=True, slots=True)
class Target:
    """Where documents are written or deleted: a collection as the caller names it, and the caller's tenant."""

    collection: str
    tenant: str


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A conversation to answer from the sources that retrieval finds for its last question."""

    turns: Sequence[Turn]
    collection: str
    reader: Reader
    top_k: int
    mode: RetrievalMode
    max_tokens: int
    temperature: float
    filters: PayloadFilter | None = None
    min_relevance: float = 0.0  # best dense cosine below this: nothing relevant, the answer abstains

    def retrieval(self, query: str) -> RetrievalRequest:
        """The retrieval of this conversation's sources, for `query` (its last question, with context)."""
        return RetrievalRequest(
            query=query,
            collection=self.collection,
            reader=self.reader,
            top_k=self.top_k,
            mode=self.mode,
            filters=self.filters,
            min_relevance=self.min_relevance,
            with_dense=True,  # the answer's sentences are compared with the sources (rag/evidence/attribution.py)
        )


class RequestBuilder:
    """Fills what a caller left out from the settings. A request is for a `principal` (an API caller) or for the
    operator of a `tenant` (None: the deployment's own, `RAG_TENANT`), never both."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def reader(self, principal: Principal | None = None, *, tenant: str | None = None) -> Reader:
        """Whose eyes a read is for: an admin principal or the operator sees its whole tenant; anyone else what the
        documents' access gives its subject and groups."""
        if principal is None:
            return Reader.whole_tenant(tenant or self._settings.tenant)
        if tenant is not None:
            raise ValueError("a request is for a principal or for an operator's tenant, not both")
        if principal.has("admin"):
            return Reader.whole_tenant(principal.tenant)
        return Reader(
            principal.tenant,
            everything=False,
            subject=principal.subject,
            groups=principal.groups,
            default_visible=self._settings.default_access == "tenant",
            kind=principal.kind,
        )

    def target(self, *, tenant: str | None = None, collection: str | None = None) -> Target:
        s = self._settings
        return Target(collection=collection or s.collection, tenant=tenant or s.tenant)

    def retrieval(
        self,
        query: str,
        *,
        principal: Principal | None = None,
        tenant: str | None = None,
        collection: str | None = None,
        top_k: int | None = None,
        mode: RetrievalMode | None = None,
        filters: PayloadFilter | None = None,
        min_relevance: float | None = None,
    ) -> RetrievalRequest:
        """What `/v1/retrieve` and the evaluations search: the same relevance floor as a chat's sources unless the
        caller sets its own (0 turns it off), so the chunks returned are the ones a chat would be grounded on."""
        s, reader = self._settings, self.reader(principal, tenant=tenant)
        return RetrievalRequest(
            query=query,
            collection=collection or s.collection,
            reader=reader,
            top_k=top_k or s.top_k,
            mode=mode or s.retrieval_mode,
            filters=filters,
            min_relevance=s.min_relevance if min_relevance is None else min_relevance,
        )

    def chat(
        self,
        turns: Sequence[Turn],
        *,
        principal: Principal | None = None,
        tenant: str | None = None,
        collection: str | None = None,
        top_k: int | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        filters: PayloadFilter | None = None,
    ) -> ChatRequest:
        s, reader = self._settings, self.reader(principal, tenant=tenant)
        return ChatRequest(
            turns=turns,
            collection=collection or s.collection,
            reader=reader,
            top_k=top_k or s.top_k,
            mode=s.retrieval_mode,
            max_tokens=max_tokens or s.max_tokens,
            temperature=s.temperature if temperature is None else temperature,
            filters=filters,
            min_relevance=s.min_relevance,
        )
