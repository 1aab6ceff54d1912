"""OpenAI wire models for the endpoints we serve, plus our extra fields (`collection`, `top_k`, `filter`,
`citations`) that standard clients pass through or ignore."""

from __future__ import annotations

import time
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from rag.settings import RetrievalMode
from rag.store.base import FilterValue


class TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    name: str | None = None

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
            "examples": [{"model": "rag", "messages": [{"role": "user", "content": "How do I deploy it?"}]}]
        },
    )
    model: str = Field(examples=["rag"])
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    n: int = Field(default=1, ge=1, le=1)
    # Extras of this platform.
    collection: str | None = Field(default=None, min_length=1, max_length=255)
    top_k: int | None = Field(default=None, ge=1, le=100)
    filter: dict[str, FilterValue] | None = None


class CitationOut(BaseModel):
    index: int
    doc_id: str
    title: str
    source: str
    excerpt: str
    score: float


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


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


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


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
    query: str = Field(min_length=1, max_length=10_000)
    collection: str | None = Field(default=None, min_length=1, max_length=255)
    top_k: int | None = Field(default=None, ge=1, le=100)
    mode: RetrievalMode | None = None
    filter: dict[str, FilterValue] | None = None


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


class DocumentUpload(BaseModel):
    """`POST /v1/documents`: one document, stored in the caller's tenant (an existing id is replaced)."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=512)
    text: str = Field(min_length=1, max_length=5_000_000)
    title: str = Field(default="", max_length=1_000)
    metadata: dict[str, str | int | float | bool] = Field(default_factory=dict, max_length=64)
    collection: str | None = Field(default=None, min_length=1, max_length=255)


class DocumentStored(BaseModel):
    id: str
    object: Literal["document"] = "document"
    collection: str
    status: Literal["created", "updated", "unchanged"]
    chunks: int


class DocumentDeleted(BaseModel):
    """`DELETE /v1/documents/{doc_id}`: what went (OpenAI's deletion shape, plus the chunk count)."""

    id: str
    object: Literal["document"] = "document"
    deleted: bool = True
    collection: str
    chunks_deleted: int


class ErrorBody(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody
