"""Token-aware chunking with LangChain's recursive splitter, counted in the embedding model's own tokens."""

from __future__ import annotations

from typing import Any

from langchain_text_splitters import Language, RecursiveCharacterTextSplitter

from rag.domain import Chunk, Document

# Sentence and clause boundaries before single spaces: the splitter measures every piece in tokens, so splitting
# prose word by word would cost one tokenizer call per word (measured: 4x the chunking time on SciFact).
_FINER = [". ", "? ", "! ", "; ", ", ", " ", ""]
_PLAIN = ["\n\n", "\n", *_FINER]


def _markdown_separators() -> list[str]:
    coarse = RecursiveCharacterTextSplitter.get_separators_for_language(Language.MARKDOWN)
    return [s for s in coarse if s not in {" ", ""}] + _FINER


class Chunker:
    def __init__(self, tokenizer: Any, *, chunk_size: int, chunk_overlap: int) -> None:
        if not 0 <= chunk_overlap < chunk_size:
            raise ValueError("chunk_overlap must be at least 0 and smaller than chunk_size")

        def splitter(separators: list[str]) -> RecursiveCharacterTextSplitter:
            made = RecursiveCharacterTextSplitter.from_huggingface_tokenizer(
                tokenizer, chunk_size=chunk_size, chunk_overlap=chunk_overlap, separators=separators
            )
            assert isinstance(made, RecursiveCharacterTextSplitter)
            return made

        self._plain = splitter(_PLAIN)
        self._markdown = splitter(_markdown_separators())

    def chunk(self, document: Document, tenant: str) -> list[Chunk]:
        splitter = self._markdown if document.metadata.get("format") in {"md", "markdown"} else self._plain
        pieces = [p.strip() for p in splitter.split_text(document.text)]
        doc_hash = document.doc_hash
        return [
            Chunk(
                tenant=tenant,
                doc_id=document.doc_id,
                doc_hash=doc_hash,
                chunk_index=i,
                text=text,
                title=document.title,
                source=document.source,
                metadata=document.metadata,
            )
            for i, text in enumerate(p for p in pieces if p)
        ]
