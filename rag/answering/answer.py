"""A complete grounded answer: its text, what it rests on, and what generating it cost."""

from __future__ import annotations

from dataclasses import dataclass

from rag.domain import Citation
from rag.evidence.evidence import Evidence


@dataclass(frozen=True, slots=True)
class Answer:
    """A complete grounded answer and what it rests on."""

    text: str
    evidence: Evidence
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str

    @property
    def citations(self) -> list[Citation]:
        return list(self.evidence.citations)
