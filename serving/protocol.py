"""OpenAI wire models for the endpoints we serve, plus our extra fields (`collection`, `top_k`, `filter`,
`citations`, `attributions`, `removed_markers`, `abstention`) that standard clients pass through or ignore.

An answer's message has every field OpenAI's schema requires, `refusal` (always null) included, and names its
sources as OpenAI `url_citation` annotations: one per source a `[n]` marker cites, spanning the marker."""

from __future__ import annotations

import math
import time
import uuid
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from rag.answering.requests import MAX_TOP_K
from rag.evidence.evidence import AbstentionReason
from rag.settings import RetrievalMode
from rag.store.base import FilterValue
from rag.store.filters import INT64_MAX, INT64_MIN


def _holds_lone_surrogate(value: object) -> bool:
    """Whether a string, or any string in lists and objects (keys too), cannot be encoded as UTF-8. JSON's
    `"\\ud800"` decodes to such a string (a lone surrogate): no tokenizer, store or UTF-8 response takes it."""
    pending = [value]
    while pending:  # a loop, not recursion: deeply nested input cannot exhaust the stack
        item = pending.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    return True
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def _valid_unicode(value: object) -> object:
    if _holds_lone_surrogate(value):
        raise PydanticCustomError("string_unicode", "text must be valid Unicode (lone surrogate)")
    return value


# Refuses a lone surrogate in client-supplied text: 400, `param` naming the field. A before-validator: it runs
# ahead of the field's own checks, so a length limit cannot answer first with a vaguer message; on a union or a
# dict it checks every string inside (keys too), so the error names the field, never a union branch or a key that
# cannot itself be written as UTF-8.
ValidUnicode = BeforeValidator(_valid_unicode)
Utf8Str = Annotated[str, ValidUnicode]


def _storable(value: str | int | float | bool) -> str | int | float | bool:
    if isinstance(value, float) and not math.isfinite(value):
        raise PydanticCustomError("finite_number", "metadata numbers must be finite (not NaN or Infinity)")
    if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
        raise PydanticCustomError("int64", "metadata integers must lie within 64 bits (-2**63 to 2**63-1)")
    return value


# A metadata value as a payload can hold it: JSON numbers (Python's parser takes NaN and Infinity), int64 integers.
# Checked on the validated union, so the error names the key (`metadata.KEY`), not each branch it failed.
MetadataValue = Annotated[str | int | float | bool, AfterValidator(_storable)]
# A request's `filter`: every key and string checked for Unicode (the values' kinds and ranges: rag/store/filters.py).
RequestFilter = Annotated[dict[str, FilterValue] | None, ValidUnicode]
# Numbers whose bounds the request builder checks (rag/answering/requests.py), once for the API, the CLI and the
# evaluations alike: the schema states the bounds to clients, it does not check them a second time. (A bound that
# depends on a setting, such as RAG_MAX_TOKENS_LIMIT, is not stated.)
TokenCount = Annotated[int, WithJsonSchema({"type": "integer", "minimum": 1})]
TopK = Annotated[int, WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_TOP_K})]


class TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Utf8Str
    text: Utf8Str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Annotated[str | list[TextPart] | None, ValidUnicode] = None
    name: Utf8Str | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(p.text or "" for p in self.content if p.type == "text")
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """OpenAI's chat-completions request; unknown OpenAI fields are accepted and ignored."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "model": "rag",
                    "messages": [{"role": "user", "content": "How do I deploy the platform with Helm?"}],
                }
            ]
        },
    )
    model: Utf8Str = Field(examples=["rag"])
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: TokenCount | None = None
    max_completion_tokens: TokenCount | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    n: int = Field(default=1, ge=1, le=1)
    # Extras of this platform.
    collection: Utf8Str | None = Field(default=None, min_length=1, max_length=255)
    top_k: TopK | None = None
    filter: RequestFilter = None


class CitationOut(BaseModel):
    index: int
    doc_id: str
    title: str
    source: str
    excerpt: str
    score: float
    cited: bool  # whether the answer cites it with an [index] marker
    note: str | None  # e.g. flagged at ingest as reading like instructions to a model
    page: int | None = None  # the page of its document it comes from (PDF)


class UrlCitation(BaseModel):
    """OpenAI's `url_citation`: the span of a marker in the content (code points), the source's title and URI."""

    start_index: int
    end_index: int
    title: str
    url: str


class Annotation(BaseModel):
    type: Literal["url_citation"] = "url_citation"
    url_citation: UrlCitation


class AttributionOut(BaseModel):
    """A sentence of the answer, `[start_index, end_index)` in the content: the source indices that support it, best
    first, the best support score, and whether any source supports it."""

    start_index: int
    end_index: int
    sources: list[int]
    score: float
    supported: bool


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    refusal: None = None  # required by OpenAI's schema (null when the model did not refuse)
    annotations: list[Annotation] = Field(default_factory=list)


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: str
    logprobs: None = None


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def now() -> int:
    return int(time.time())


class ChatCompletion(BaseModel):
    id: str = Field(default_factory=completion_id)
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(default_factory=now)
    model: str
    choices: list[Choice]
    usage: Usage
    citations: list[CitationOut]
    attributions: list[AttributionOut]
    removed_markers: int  # [n] markers that named no source, taken out of the content
    abstention: AbstentionReason | None  # why the answer abstains, when it does


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None
    refusal: None = None
    annotations: list[Annotation] | None = None  # in the delta that finishes the answer


class ChunkChoice(BaseModel):
    index: int = 0
    delta: Delta
    finish_reason: str | None = None
    logprobs: None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None
    citations: list[CitationOut] | None = None
    attributions: list[AttributionOut] | None = None
    removed_markers: int | None = None
    abstention: AbstentionReason | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "rag-platform"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class RetrieveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: Utf8Str = Field(min_length=1, max_length=10_000)
    collection: Utf8Str | None = Field(default=None, min_length=1, max_length=255)
    top_k: TopK | None = None
    mode: RetrievalMode | None = None
    filter: RequestFilter = None
    # The chat's relevance floor (RAG_MIN_RELEVANCE) unless given; 0 returns the ranking whatever its scores.
    min_relevance: float | None = Field(default=None, ge=0, le=1)


class RetrievedChunk(BaseModel):
    index: int
    doc_id: str
    chunk_index: int
    title: str
    source: str
    text: str
    score: float
    metadata: dict[str, object]


class RetrieveResponse(BaseModel):
    object: Literal["list"] = "list"
    collection: str
    mode: RetrievalMode
    data: list[RetrievedChunk]


class ErrorBody(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody
