"""Our retriever as a LangChain `BaseRetriever`, so LangChain users can compose it into their own chains.

Its requests are built as `/v1/retrieve` builds them (`RequestBuilder.retrieval`): a field left unset (None) is
filled from the settings, the relevance floor (RAG_MIN_RELEVANCE) included, so a chain is grounded on the chunks a
chat would be."""

from __future__ import annotations

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from rag.access.identity import Principal
from rag.answering.requests import RequestBuilder
from rag.answering.retrieval import Retriever
from rag.settings import RetrievalMode
from rag.store.base import PayloadFilter


class RagRetriever(BaseRetriever):
    """Retrieval for `principal` (an API caller), or for the operator of `tenant` (None: RAG_TENANT)."""

    retriever: Retriever
    requests: RequestBuilder
    principal: Principal | None = None
    tenant: str | None = None
    collection: str | None = None
    top_k: int | None = None
    mode: RetrievalMode | None = None
    filters: PayloadFilter | None = None
    min_relevance: float | None = None  # 0: the ranking, whatever its scores

    model_config = ConfigDict(arbitrary_types_allowed=True)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[LCDocument]:
        request = self.requests.retrieval(
            query,
            principal=self.principal,
            tenant=self.tenant,
            collection=self.collection,
            top_k=self.top_k,
            mode=self.mode,
            filters=self.filters,
            min_relevance=self.min_relevance,
        )
        return [
            LCDocument(
                page_content=h.chunk.text,
                metadata={
                    "doc_id": h.chunk.doc_id,
                    "title": h.chunk.title,
                    "source": h.chunk.source,
                    "chunk_index": h.chunk.chunk_index,
                    "score": h.score,
                    **h.chunk.metadata,
                },
            )
            for h in self.retriever.retrieve(request)
        ]
