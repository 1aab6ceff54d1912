"""Token-aware chunking with LangChain's recursive splitter, counted in the embedding model's own tokens.

Markdown tables in a part's text (as every loader writes them: ingest/formats/tables.py) are never cut inside a row:
a table that fits a chunk stays whole (joined to the prose beside it where both fit), and a longer one is split
between rows, every piece starting with the table's `Table: caption` line, header row and `| --- |` row, so a chunk
holding row 70 still says which column a value belongs to. Prose around tables is split as before.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from langchain_text_splitters import Language, MarkdownHeaderTextSplitter, RecursiveCharacterTextSplitter
from tokenizers import Tokenizer

from ingest.formats.tables import CAPTION_PREFIX
from rag.domain import Chunk, Document, DocumentPart, JsonDict

# Sentence and clause boundaries before single spaces: the splitter measures every piece in tokens, so splitting
# prose word by word would cost one tokenizer call per word (measured once by hand, commit 2984d7f: 4x the chunking
# time on SciFact, where that commit's message says 7x; no script reproduces either).
_FINER = [". ", "? ", "! ", "; ", ", ", " ", ""]
_PLAIN = ["\n\n", "\n", *_FINER]
# Markdown (and DOCX and HTML, whose loaders write headings as Markdown) is split by headings first; each chunk
# keeps its heading path, e.g. {"headings": "Deploy > Helm"}.
_HEADED_FORMATS = frozenset({"md", "markdown", "docx", "html"})
_HEADINGS = (("#", "h1"), ("##", "h2"), ("###", "h3"), ("####", "h4"))

_ROW = re.compile(r"\|.*\|")  # a table row, stripped: `| a | b |`
_RULE = re.compile(r"\|(\s*:?-+:?\s*\|)+")  # the row under the header: `| --- | :---: |`
_FENCE = ("```", "~~~")


@dataclass(frozen=True, slots=True)
class _Table:
    """A Markdown table found in a text: `head` is its caption line (if any), header row and rule; `rows` the body."""

    head: str
    rows: list[str]


def _blocks(text: str) -> list[str | _Table]:
    """The text cut into prose (str) and tables, in order; [] when it holds no table (outside code fences)."""
    lines = text.split("\n")
    blocks: list[str | _Table] = []
    prose: list[str] = []
    fenced = False
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith(_FENCE):
            fenced = not fenced
        if fenced or not _ROW.fullmatch(line) or i + 1 >= len(lines) or not _RULE.fullmatch(lines[i + 1].strip()):
            prose.append(lines[i])
            i += 1
            continue
        head = [line, lines[i + 1].strip()]
        if prose and prose[-1].strip().startswith(CAPTION_PREFIX):
            head.insert(0, prose.pop().strip())
        i += 2
        rows: list[str] = []
        while i < len(lines) and lines[i].strip().startswith("|"):
            rows.append(lines[i].strip())
            i += 1
        if prose:
            blocks.append("\n".join(prose))
            prose = []
        blocks.append(_Table("\n".join(head), rows))
    if not any(isinstance(block, _Table) for block in blocks):
        return []
    if prose:
        blocks.append("\n".join(prose))
    return blocks


_Kind = Literal["prose", "table", "rows"]  # a splitter's piece of prose, a whole table, some rows of a long one


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

        self._size, self._overlap = chunk_size, chunk_overlap
        self._plain = splitter(_PLAIN)
        self._markdown = splitter(_markdown_separators())
        self._headers = MarkdownHeaderTextSplitter(list(_HEADINGS), strip_headers=False)

    def _pieces(self, document: Document) -> Iterator[tuple[str, JsonDict]]:
        """(text, metadata of its own) per piece: a part's metadata (PDF page), a Markdown heading path."""
        for part in document.parts or (DocumentPart(document.text),):
            if document.metadata.get("format") not in _HEADED_FORMATS:
                for text in self._split(part.text, self._plain):
                    yield text, part.metadata
                continue
            for section in self._headers.split_text(part.text):
                path = " > ".join(str(section.metadata[key]) for _, key in _HEADINGS if key in section.metadata)
                meta = {**part.metadata, "headings": path} if path else part.metadata
                for text in self._split(section.page_content.replace("  \n", "\n"), self._markdown):
                    yield text, meta

    def _split(self, text: str, prose: RecursiveCharacterTextSplitter) -> list[str]:
        """The text's pieces: prose by `prose` (exactly as before where the text holds no table), tables whole or
        between rows; a whole table is joined to the prose piece before or after it where the two fit a chunk."""
        blocks = _blocks(text)
        if not blocks:
            return prose.split_text(text)
        pieces: list[tuple[str, _Kind, int]] = []  # (text, kind, index of the block it ends in)
        for index, block in enumerate(blocks):
            if isinstance(block, str):
                pieces += [(piece, "prose", index) for piece in prose.split_text(block)]
            else:
                pieces += [(piece, kind, index) for piece, kind in self._table(block)]
        merged: list[tuple[str, _Kind, int]] = []
        for piece, kind, index in pieces:
            if merged and "rows" not in (kind, merged[-1][1]) and merged[-1][2] != index:
                joined = f"{merged[-1][0]}\n\n{piece}"
                if self.count_tokens(joined) <= self._size:
                    merged[-1] = (joined, "table", index)
                    continue
            merged.append((piece, kind, index))
        return [piece for piece, _, _ in merged]

    def _table(self, table: _Table) -> list[tuple[str, _Kind]]:
        """The table whole where it fits a chunk, else pieces of whole rows, each under the table's head and each at
        most a chunk. A row too long to fit under the head alone is the one thing cut (`_long_row`)."""
        whole = "\n".join([table.head, *table.rows])
        if self.count_tokens(whole) <= self._size:
            return [(whole, "table")]
        if not table.rows:
            return [(piece, "rows") for piece in self._plain.split_text(whole)]
        pieces: list[tuple[str, _Kind]] = []
        current = ""
        for row in table.rows:
            if current:
                grown = f"{current}\n{row}"
                if self.count_tokens(grown) <= self._size:
                    current = grown
                    continue
                pieces.append((current, "rows"))
            current = f"{table.head}\n{row}"
            if self.count_tokens(current) > self._size:
                pieces += [(piece, "rows") for piece in self._long_row(table.head, row)]
                current = ""
        if current:
            pieces.append((current, "rows"))
        return pieces

    def _long_row(self, head: str, row: str) -> list[str]:
        """A row too long for a chunk even alone under its table's head, split by the plain splitter as prose (the
        last resort, and the only place a row is cut): into pieces that each fit under the head where the head
        leaves a quarter of a chunk or more, else head and row split together (so later pieces lack the head)."""
        room = self._size - self.count_tokens(head) - 1  # 1: the line break, should it count
        if room < self._size // 4:
            return self._plain.split_text(f"{head}\n{row}")
        overlap = min(self._overlap, room // 2)
        splitter = RecursiveCharacterTextSplitter(
            chunk_size=room, chunk_overlap=overlap, separators=_PLAIN, length_function=self.count_tokens
        )
        return [f"{head}\n{piece}" for piece in splitter.split_text(row)]

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
