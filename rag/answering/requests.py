"""The requests of every entry point, and the one builder that makes them.

The chat and retrieve endpoints, the document endpoints, `rag ask|ingest|delete|copy`, the evaluations, the
LangChain retriever and the benchmarks all turn what they were asked into a `Target`, a `RetrievalRequest` or a
`ChatRequest` through `RequestBuilder`, and nowhere else. The requests hold no defaults of their own: what a caller
leaves out is filled in here from the settings (`RAG_COLLECTION`, `RAG_TENANT`, `RAG_TOP_K`, `RAG_RETRIEVAL_MODE`,
`RAG_MIN_RELEVANCE`, `RAG_MAX_TOKENS`, `RAG_TEMPERATURE`), and each bound a request must keep (`top_k`,
`max_tokens`, the number of messages and their characters) is checked here, once, for every entry point. A field
every request gains is added to these types and this builder.

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
from rag.errors import InvalidInput
from rag.settings import RetrievalMode, Settings
from rag.store.base import PayloadFilter

if TYPE_CHECKING:
    from rag.answering.prompts import Turn

# The most sources one request may ask for. Not a setting: the API's schema states it (serving/protocol.py).
MAX_TOP_K = 100


@dataclass(frozen=True, slots=True)
class Target:
    """Where documents are written or deleted: a collection as the caller names it, and the caller's tenant."""

    collection: str
    tenant: str


@dataclass(frozen=True, slots=True)
class RetrievalRequest:
    """One search of a collection, for one reader."""

    query: str
    collection: str
    reader: Reader  # its tenant, and what it may see there
    top_k: int
    mode: RetrievalMode
    filters: PayloadFilter | None
    min_relevance: float  # best dense cosine below this: nothing relevant, the result is empty (0: no floor)
    with_dense: bool  # hits carry their chunks' dense vectors (a chat's attribution compares with them)


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
    filters: PayloadFilter | None
    min_relevance: float  # best dense cosine below this: nothing relevant, the answer abstains

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


class OutOfBounds(InvalidInput):
    """A number a request may not hold: `param` outside `low`..`high`."""

    def __init__(self, param: str, low: int, high: int) -> None:
        super().__init__(f"{param} must be between {low} and {high}", param=param)
        self.low, self.high = low, high

    def named(self, param: str) -> OutOfBounds:
        """The same bound, for a caller that calls the number `param` (the wire's `max_completion_tokens`)."""
        return OutOfBounds(param, self.low, self.high)


def _within(param: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise OutOfBounds(param, low, high)
    return value


class RequestBuilder:
    """Fills what a caller left out from the settings and checks each bound. A request is for a `principal` (an
    API caller) or for the operator of a `tenant` (None: the deployment's own, `RAG_TENANT`), never both."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def reader(self, principal: Principal | None = None, *, tenant: str | None = None) -> Reader:
        """Whose eyes a read is for: an admin principal or the operator sees its whole tenant; anyone else what the
        documents' access gives its subject and groups."""
        if principal is None:
            return Reader.whole_tenant(tenant or self._settings.access.tenant)
        if tenant is not None:
            raise ValueError("a request is for a principal or for an operator's tenant, not both")
        if principal.has("admin"):
            return Reader.whole_tenant(principal.tenant)
        return Reader(
            principal.tenant,
            everything=False,
            subject=principal.subject,
            groups=principal.groups,
            default_visible=self._settings.access.default_access == "tenant",
            kind=principal.kind,
        )

    def target(self, *, tenant: str | None = None, collection: str | None = None) -> Target:
        s = self._settings
        return Target(collection=collection or s.store.collection, tenant=tenant or s.access.tenant)

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
        """What `/v1/retrieve`, the evaluations and the LangChain retriever search: the same relevance floor as a
        chat's sources unless the caller sets its own (0 turns it off), so the chunks returned are the ones a chat
        would be grounded on."""
        s = self._settings
        return RetrievalRequest(
            query=query,
            collection=collection or s.store.collection,
            reader=self.reader(principal, tenant=tenant),
            top_k=self._top_k(top_k),
            mode=mode or s.retrieval.mode,
            filters=filters,
            min_relevance=s.retrieval.min_relevance if min_relevance is None else min_relevance,
            with_dense=False,
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
        """A chat over `turns`; `InvalidInput` (naming the field) when it holds more messages or characters than a
        request may (RAG_MAX_MESSAGES, RAG_MAX_INPUT_CHARS), or asks for more tokens than RAG_MAX_TOKENS_LIMIT."""
        s, limits = self._settings, self._settings.limits
        if len(turns) > limits.max_messages:
            raise InvalidInput(f"too many messages: {len(turns)}, at most {limits.max_messages}", param="messages")
        chars = sum(len(t.content) for t in turns)
        if chars > limits.max_input_chars:
            raise InvalidInput(
                f"the messages hold {chars} characters, at most {limits.max_input_chars}", param="messages"
            )
        max_tokens = s.llm.max_tokens if max_tokens is None else max_tokens
        return ChatRequest(
            turns=turns,
            collection=collection or s.store.collection,
            reader=self.reader(principal, tenant=tenant),
            top_k=self._top_k(top_k),
            mode=s.retrieval.mode,
            max_tokens=_within("max_tokens", max_tokens, 1, limits.max_tokens_limit),
            temperature=s.llm.temperature if temperature is None else temperature,
            filters=filters,
            min_relevance=s.retrieval.min_relevance,
        )

    def _top_k(self, top_k: int | None) -> int:
        return _within("top_k", self._settings.retrieval.top_k if top_k is None else top_k, 1, MAX_TOP_K)
