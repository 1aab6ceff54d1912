"""Token-aware chunking with LangChain's recursive splitter, counted in the embedding model's own tokens."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from langchain_text_splitters import Language, MarkdownHeaderTextSplitter, RecursiveCharacterTextSplitter
from tokenizers import Tokenizer

from rag.domain import Chunk, Document, DocumentPart, JsonDict

# Sentence and clause boundaries before single spaces: the splitter measures every piece in tokens, so splitting
# prose word by word would cost one tokenizer call per word (measured once by hand, commit 2984d7f: 4x the chunking
# time on SciFact, where that commit's message says 7x; no script reproduces either).
_FINER = [". ", "? ", "! ", "; ", ", ", " ", ""]
_PLAIN = ["\n\n", "\n", *_FINER]
# Markdown (and DOCX, whose headings the loader writes as Markdown) is split by headings first; each chunk keeps
# its heading path, e.g. {"headings": "Deploy > Helm"}.
_HEADED_FORMATS = frozenset({"md", "markdown", "docx"})
_HEADINGS = (("#", "h1"), ("##", "h2"), ("###", "h3"), ("####", "h4"))


def _markdown_separators() -> list[str]:
    coarse = RecursiveCharacterTextSplitter.get_separators_for_language(Language.MARKDOWN)
    return [s for s in coarse if s not in {" ", ""}] + _FINER


def token_counter(tokenizer: Any) -> Callable[[str], int]:
    """Tokens of a text without special tokens, from a `tokenizers.Tokenizer` (no torch import: an unchanged re-run
    stays light) or a transformers tokenizer; both give the same count for the same tokenizer.json."""
    if isinstance(tokenizer, Tokenizer):
        fast = Tokenizer.from_str(tokenizer.to_str())
        fast.no_truncation()  # tokenizer.json may cap at the model's length; chunks are measured uncapped
        fast.no_padding()
        return lambda text: len(fast.encode(text, add_special_tokens=False).ids)
    return lambda text: len(tokenizer.tokenize(text))


class Chunker:
    def __init__(self, tokenizer: Any, *, chunk_size: int, chunk_overlap: int) -> None:
        if not 0 <= chunk_overlap < chunk_size:
            raise ValueError("chunk_overlap must be at least 0 and smaller than chunk_size")
        count = token_counter(tokenizer)
        self.count_tokens = count  # the embedder's tokens of a text, as chunks are measured

        def splitter(separators: list[str]) -> RecursiveCharacterTextSplitter:
            return RecursiveCharacterTextSplitter(
                chunk_size=chunk_size, chunk_overlap=chunk_overlap, separators=separators, length_function=count
            )

        self._plain = splitter(_PLAIN)
        self._markdown = splitter(_markdown_separators())
        self._headers = MarkdownHeaderTextSplitter(list(_HEADINGS), strip_headers=False)

    def _pieces(self, document: Document) -> Iterator[tuple[str, JsonDict]]:
        """(text, metadata of its own) per piece: a part's metadata (PDF page), a Markdown heading path."""
        for part in document.parts or (DocumentPart(document.text),):
            if document.metadata.get("format") not in _HEADED_FORMATS:
                for text in self._plain.split_text(part.text):
                    yield text, part.metadata
                continue
            for section in self._headers.split_text(part.text):
                path = " > ".join(str(section.metadata[key]) for _, key in _HEADINGS if key in section.metadata)
                meta = {**part.metadata, "headings": path} if path else part.metadata
                for text in self._markdown.split_text(section.page_content.replace("  \n", "\n")):
                    yield text, meta

    def chunk(self, document: Document, tenant: str) -> list[Chunk]:
        doc_hash = document.doc_hash
        pieces = [(text.strip(), meta) for text, meta in self._pieces(document)]
        return [
            Chunk(
                tenant=tenant,
                doc_id=document.doc_id,
                doc_hash=doc_hash,
                chunk_index=i,
                text=text,
                title=document.title,
                source=document.source,
                metadata={**document.metadata, **meta},
                access=document.access,
                change_token=document.change_token,
            )
            for i, (text, meta) in enumerate((t, m) for t, m in pieces if t)
        ]
