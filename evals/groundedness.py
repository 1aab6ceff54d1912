"""Groundedness of an answer against the sources it was given, 0 (invented) to 1 (every claim supported).

Two methods. With `RAG_JUDGE_BASE_URL` set, an LLM judge (any OpenAI-compatible endpoint, `RAG_JUDGE_MODEL`) reads
the numbered sources and the answer and returns the share of the answer's claims that the sources support; its
reply must contain a number between 0 and 1 (a reply without one scores None and is counted as a judge failure).
Without a judge, token support: the share of the answer's content words (SQuAD-normalized, English stop words
dropped) that occur in the sources. Token support is cheap and deterministic but blind to meaning: a sentence that
recombines source words into a false claim still scores high.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from evals.answer_metrics import normalize
from rag.embedding.sparse import ENGLISH_STOP_WORDS
from rag.settings import Settings

JUDGE_INSTRUCTIONS = (
    "You check whether an answer is supported by the sources. Split the answer into its factual claims and count "
    "how many of them the sources state or directly imply. Reply with one line: `score: X`, where X is the "
    "supported claims divided by all claims, a number between 0 and 1. An answer that only says the sources do "
    "not contain the answer scores 1."
)
_TAGGED = re.compile(r"score\s*[:=]\s*([0-9]*\.?[0-9]+)", re.IGNORECASE)
_UNIT_NUMBER = re.compile(r"(?<![\w.])(0?\.\d+|0|1(?:\.0+)?)(?![\w.])")


class Groundedness(Protocol):
    name: str

    def __call__(self, answer: str, sources: Sequence[str]) -> float | None: ...


class TokenSupport:
    name = "token-support"

    def __call__(self, answer: str, sources: Sequence[str]) -> float | None:
        words = [w for w in normalize(answer) if w not in ENGLISH_STOP_WORDS]
        if not words:
            return None
        seen = {w for text in sources for w in normalize(text)}
        return sum(1 for w in words if w in seen) / len(words)


def parse_judge_score(reply: str) -> float | None:
    """The judge's score: the number after `score:`, else the first number in [0, 1] in the reply."""
    found = _TAGGED.search(reply) or _UNIT_NUMBER.search(reply)
    if not found:
        return None
    value = float(found.group(1))
    return value if 0.0 <= value <= 1.0 else None


class LlmJudge:
    def __init__(self, model: BaseChatModel, model_name: str) -> None:
        self._model = model
        self.name = f"llm-judge:{model_name}"

    def __call__(self, answer: str, sources: Sequence[str]) -> float | None:
        if not answer.strip():
            return None
        numbered = "\n\n".join(f"Source [{i}]: {text.strip()}" for i, text in enumerate(sources, start=1))
        reply = self._model.invoke(
            [SystemMessage(JUDGE_INSTRUCTIONS), HumanMessage(f"{numbered}\n\nAnswer: {answer.strip()}")],
            temperature=0.0,
            max_tokens=32,
        )
        return parse_judge_score(str(reply.content))


def build_groundedness(settings: Settings) -> Groundedness:
    if not settings.evals.judge_base_url:
        return TokenSupport()
    from langchain_openai import ChatOpenAI

    judge = ChatOpenAI(
        base_url=settings.evals.judge_base_url,
        model=settings.evals.judge_model,
        api_key=settings.evals.judge_api_key,
        timeout=settings.llm.timeout_s,
        max_retries=settings.llm.max_retries,
    )
    return LlmJudge(judge, settings.evals.judge_model)
