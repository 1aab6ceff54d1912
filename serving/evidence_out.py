"""An answer's evidence (rag/evidence/evidence.py) on the wire: OpenAI `url_citation` annotations for the markers, and
our extra fields (`citations`, `attributions`, `removed_markers`, `abstention`)."""

from __future__ import annotations

from typing import Any

from rag.evidence.evidence import Evidence
from serving.protocol import Annotation, AttributionOut, CitationOut, UrlCitation


def url_citations(evidence: Evidence) -> list[Annotation]:
    """One `url_citation` per source each kept marker cites, spanning the marker; `url` is the source's URI."""
    by_index = {c.index: c for c in evidence.citations}
    return [
        Annotation(
            type="url_citation",  # set, so that a stream's chunk (only what is set) carries it too
            url_citation=UrlCitation(
                start_index=marker.start,
                end_index=marker.end,
                title=by_index[n].title or by_index[n].source,
                url=by_index[n].source,
            ),
        )
        for marker in evidence.markers
        for n in marker.sources
        if n in by_index
    ]


def extras(evidence: Evidence) -> dict[str, Any]:
    """The fields a completion (or a stream's last chunk) adds to OpenAI's."""
    return {
        "citations": [CitationOut.model_validate(c, from_attributes=True) for c in evidence.citations],
        "attributions": [
            AttributionOut(
                start_index=a.start, end_index=a.end, sources=list(a.sources), score=a.score, supported=a.supported
            )
            for a in evidence.attributions
        ],
        "removed_markers": evidence.removed_markers,
        "abstention": evidence.abstention,
    }
