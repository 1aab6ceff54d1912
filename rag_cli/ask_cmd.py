"""`rag ask "QUESTION" [--collection NAME]`: the answer, streamed, then its numbered sources (which the answer cites,
and notes such as a flag for injected instructions) and the sentences no source supports."""

from __future__ import annotations

import argparse
import sys

from rag.components import build_components, build_pipeline
from rag.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("ask", help="answer a question from the ingested documents, with sources")
    p.add_argument("question")
    p.add_argument("--collection", help="collection to search (default: RAG_COLLECTION)")
    p.add_argument("--tenant", help="tenant whose documents to search (default: RAG_TENANT)")
    p.add_argument("--top-k", type=int, help="number of sources (default: RAG_TOP_K)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rag.answering.pipeline import PipelineConfig, ground
    from rag.answering.prompts import Turn
    from rag.answering.stream import AnswerFold, TokenDelta  # the LLM stack loads only for this command

    settings = Settings()
    components = build_components(settings)
    try:
        request = components.requests.chat(
            [Turn("user", args.question)], tenant=args.tenant, collection=args.collection, top_k=args.top_k
        )
        # sources first: a collection that does not exist fails before the language model loads (seconds)
        grounding = ground(components.retriever, PipelineConfig.from_settings(settings), request)
        pipeline = build_pipeline(components)
        fold = AnswerFold()
        for event in pipeline.stream(request, grounding):
            fold.add(event)
            if isinstance(event, TokenDelta):
                sys.stdout.write(event.text)
                sys.stdout.flush()
        evidence = fold.finished.evidence
        print("\n\nSources:")
        for c in evidence.citations:
            cited = ", cited" if c.cited else ""
            note = f"\n      note: {c.note}" if c.note else ""
            print(f"  [{c.index}] {c.title} ({c.source}) score={c.score:.3f}{cited}{note}")
        unsupported = [fold.text[a.start : a.end] for a in evidence.attributions if not a.supported]
        if unsupported:
            print("\nNot supported by any source:")
            for sentence in unsupported:
                print(f"  - {sentence}")
    finally:
        components.close()
    return 0
