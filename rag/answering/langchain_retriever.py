"""Our retriever as a LangChain `BaseRetriever`, so LangChain users can compose it into their own chains."""

from __future__ import annotations

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from rag.access.document_access import Reader
from rag.answering.retrieval import RetrievalRequest, Retriever
from rag.domain import RetrievalMode


class RagRetriever(BaseRetriever):
    retriever: Retriever
    collection: str
    reader: Reader = Reader.whole_tenant("default")  # whose eyes: the tenant, and what it may see there
    top_k: int = 5
    mode: RetrievalMode = "hybrid"

    model_config = ConfigDict(arbitrary_types_allowed=True)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[LCDocument]:
        hits = self.retriever.retrieve(
            RetrievalRequest(
                query=query, collection=self.collection, reader=self.reader, top_k=self.top_k, mode=self.mode
            )
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
            for h in hits
        ]
