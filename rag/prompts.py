"""Prompts: numbered sources for grounded, cited answers; the retrieval query of a follow-up question."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from rag.domain import Citation, Hit

Role = Literal["system", "user", "assistant"]

SYSTEM_PROMPT = (
    "Answer using only the sources. Cite sources like [1]. "
    "If the sources do not contain the answer, say that the documents do not contain it."
)
NO_SOURCES_ANSWER = "The documents do not contain the answer to this question: nothing relevant was found."
UNSUPPORTED_ANSWER = "The documents do not contain an answer to this question that their text supports."


@dataclass(frozen=True, slots=True)
class Turn:
    role: Role
    content: str


def retrieval_query(turns: Sequence[Turn], history_turns: int) -> str:
    """The last user message, preceded by up to `history_turns` earlier user messages for follow-up context."""
    users = [t.content.strip() for t in turns if t.role == "user" and t.content.strip()]
    return "\n".join(users[-(history_turns + 1) :])


def citations_for(hits: Sequence[Hit], excerpt_chars: int) -> list[Citation]:
    def excerpt(text: str) -> str:
        return text if len(text) <= excerpt_chars else text[: excerpt_chars - 1].rstrip() + "…"

    return [
        Citation(
            index=i,
            doc_id=h.chunk.doc_id,
            title=h.chunk.title,
            source=h.chunk.source,
            excerpt=excerpt(h.chunk.text),
            score=h.score,
        )
        for i, h in enumerate(hits, start=1)
    ]


def sources_block(hits: Sequence[Hit]) -> str:
    """`Source [n]: text` per hit. Tried on SmolLM2-135M: heading lines per source ("[1] Title") made it copy the
    headings instead of answering; this form gave an answer to "how do I deploy it?" from the docs."""
    return "\n\n".join(f"Source [{i}]: {hit.chunk.text.strip()}" for i, hit in enumerate(hits, start=1))


def grounded_messages(turns: Sequence[Turn], hits: Sequence[Hit]) -> list[BaseMessage]:
    """System instructions, the earlier conversation, then the question with its numbered sources."""
    system = "\n\n".join([SYSTEM_PROMPT, *(t.content for t in turns if t.role == "system")])
    history: list[BaseMessage] = []
    dialogue = [t for t in turns if t.role != "system"]
    for turn in dialogue[:-1]:
        history.append(HumanMessage(turn.content) if turn.role == "user" else AIMessage(turn.content))
    question = dialogue[-1].content.strip()
    final = HumanMessage(f"{sources_block(hits)}\n\nQuestion: {question}")
    return [SystemMessage(system), *history, final]
