"""What a retrieved source flagged at ingest as reading like instructions to a model (rag/evidence/injection.py) becomes
in the prompt, as RAG_INJECTED_SOURCES says: kept as any other (`keep`), moved after the unflagged sources, its citation
noting why (`downweight`, the default), or left out of the prompt and the citations (`drop`)."""

from __future__ import annotations

from collections.abc import Sequence

from rag.domain import Hit
from rag.evidence.injection import INJECTION
from rag.settings import InjectedSources


def apply_source_policy(hits: Sequence[Hit], policy: InjectedSources) -> list[Hit]:
    if policy == "keep":
        return list(hits)
    clean = [h for h in hits if INJECTION not in h.chunk.flags]
    if policy == "drop":
        return clean
    return clean + [h for h in hits if INJECTION in h.chunk.flags]
