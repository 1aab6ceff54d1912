"""What an answer rests on, as the API, the CLI and the evaluations read it: the sources given (each saying whether
the answer cited it), the `[n]` markers kept and those removed, each sentence's supporting sources, and, when the
answer abstains, why."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from rag.domain import Citation
from rag.evidence.attribution import Attribution
from rag.evidence.markers import Marker, MarkerFilter

# Why an answer abstains: nothing relevant was retrieved, or the retrieval's signals say the sources cannot answer
# (rag/evidence/answerability.py) (in both the LLM is not called); or no sentence of the generated answer is supported
# by a source and RAG_UNSUPPORTED_ANSWERS=abstain replaced it.
AbstentionReason = Literal["no_sources", "unanswerable", "unsupported"]


@dataclass(frozen=True, slots=True)
class Evidence:
    citations: tuple[Citation, ...]
    markers: tuple[Marker, ...] = ()
    removed_markers: int = 0  # `[n]` numbers that named no source, taken out of the text
    attributions: tuple[Attribution, ...] = ()
    abstention: AbstentionReason | None = None

    @classmethod
    def of(
        cls,
        citations: tuple[Citation, ...] | list[Citation],
        markers: MarkerFilter,
        attributions: list[Attribution],
    ) -> Evidence:
        cited = markers.cited
        return cls(
            citations=tuple(replace(c, cited=c.index in cited) for c in citations),
            markers=tuple(markers.markers),
            removed_markers=markers.removed,
            attributions=tuple(attributions),
        )

    @classmethod
    def abstained(cls, reason: AbstentionReason, citations: tuple[Citation, ...] = ()) -> Evidence:
        return cls(citations=tuple(replace(c, cited=False) for c in citations), abstention=reason)

    @property
    def supported(self) -> int:
        """How many of the answer's sentences a source supports."""
        return sum(1 for a in self.attributions if a.supported)
