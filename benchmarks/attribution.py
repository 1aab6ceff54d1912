"""Sentence attribution (rag/evidence/attribution.py): how well its support score tells a source that backs a sentence
from one that does not, which weight and threshold to use, and what it costs per answer next to generating it.

    .venv/bin/python -m benchmarks.attribution [--answers 30] [--max-tokens 300] [--streamed 30] [--token-ms 20]

Calibration: every sentence of ClapNQ's gold answers (answerable questions) against the sources a chat retrieves
for its question (`RAG_TOP_K`, the default mode, through the eval collection): a pair is positive when the source
is the gold passage, negative otherwise, plus each sentence against the sources of another question. For each
dense weight on a grid the AUC of the combined score on the odd questions; the best weight's threshold is the one
with the highest TPR - FPR there; both are checked on the even questions.

Cost: `--answers` ClapNQ questions answered by the configured LLM (the in-process engine unless RAG_LLM_BASE_URL is
set) at `--max-tokens`, each answer's generation time and its attribution time side by side; and answers of about
300 tokens (the embedder's tokens) made of gold answer sentences: the attribution of the whole answer at once, and,
for `--streamed` of them streamed through the pipeline one word every `--token-ms`, what the answer waits for its
evidence after its last token (sentences are attributed while it streams; rag/evidence/attribution.py
StreamingAttribution). Prints tables; writes benchmarks/results/attribution.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from benchmarks.abstention import auc
from benchmarks.corpus_vectors import ROOT, dataset
from benchmarks.store import percentile
from evals.beir import load_answers
from evals.eval_index import TENANT, open_eval_index
from ingest.chunking import token_counter
from rag.answering.pipeline import RagPipeline, ground
from rag.answering.prompts import Turn
from rag.answering.requests import RequestBuilder
from rag.answering.stream import AnswerFold, Finished, TokenDelta
from rag.components import build_pipeline
from rag.domain import Hit
from rag.evidence.attribution import AttributionConfig, Attributor, sentence_spans
from rag.settings import Settings

WEIGHTS = [round(0.1 * i, 1) for i in range(11)]


class PacedAnswer(BaseChatModel):
    """A chat model that streams a given answer a word at a time, one every `word_s` seconds."""

    answer: str
    word_s: float

    @property
    def _llm_type(self) -> str:
        return "paced-answer"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=self.answer))])

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        raise NotImplementedError("streamed asynchronously only")

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for word in re.findall(r"\s*\S+", self.answer):
            await asyncio.sleep(self.word_s)
            yield ChatGenerationChunk(message=AIMessageChunk(content=word))


async def wait_after_last_token(pipeline: RagPipeline, request: Any, grounding: Any) -> tuple[float, str]:
    """Milliseconds from an answer's last token to its `Finished` event, and the answer's text."""
    last_token_at, fold = 0.0, AnswerFold()
    async for event in pipeline.astream(request, grounding):
        fold.add(event)
        if isinstance(event, TokenDelta):
            last_token_at = time.perf_counter()
        elif isinstance(event, Finished):
            return (time.perf_counter() - last_token_at) * 1000, fold.text
    raise RuntimeError("the answer did not finish")


def sentences_of(text: str) -> list[str]:
    return [text[a:b] for a, b in sentence_spans(text)]


def calibrate(attributor: Attributor, questions: list[tuple[list[str], list[Hit], set[str]]]) -> dict[str, Any]:
    """Pairs (dense, lexical, positive, half) of gold sentences against retrieved sources."""
    rows: list[tuple[float, float, bool, int]] = []
    for i, (sentences, hits, gold) in enumerate(questions):
        if not sentences or not hits:
            continue
        other = questions[(i + 7) % len(questions)][1]  # another question's sources: unrelated claims
        for sources, own in ((hits, True), (other, False)):
            support = attributor.support(sentences, sources)
            for column, hit in enumerate(sources):
                positive = own and hit.chunk.doc_id in gold
                for row in range(len(sentences)):
                    pair = (float(support.dense[row, column]), float(support.lexical[row, column]))
                    rows.append((*pair, positive, i % 2))
    dense, lexical = np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
    labels, half = np.array([r[2] for r in rows]), np.array([r[3] for r in rows])

    def split(weight: float, part: int) -> tuple[list[float], list[float]]:
        score = weight * dense + (1 - weight) * lexical
        return list(score[(half == part) & labels]), list(score[(half == part) & ~labels])

    def rate(scores: list[float], threshold: float) -> float:
        return round(float(np.mean(np.array(scores) >= threshold)), 4)

    grid = [{"dense_weight": w, "auc_odd": auc(*split(w, 0))} for w in WEIGHTS]
    weight = max(grid, key=lambda g: g["auc_odd"])["dense_weight"]
    pos, neg = split(weight, 0)
    thresholds = sorted({round(t, 2) for t in np.arange(0.2, 0.9, 0.01)})
    best = max(thresholds, key=lambda t: rate(pos, t) - rate(neg, t))
    check_pos, check_neg = split(weight, 1)
    return {
        "pairs": len(rows),
        "positives": int(labels.sum()),
        "grid": grid,
        "dense_weight": weight,
        "min_support": best,
        "odd": {
            "tpr": round(float(np.mean(np.array(pos) >= best)), 4),
            "fpr": round(float(np.mean(np.array(neg) >= best)), 4),
        },
        "even": {
            "auc": auc(check_pos, check_neg),
            "tpr": round(float(np.mean(np.array(check_pos) >= best)), 4),
            "fpr": round(float(np.mean(np.array(check_neg) >= best)), 4),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--answers", type=int, default=30)
    parser.add_argument("--max-tokens", type=int, default=300)
    parser.add_argument("--streamed", type=int, default=30, help="long answers also streamed through the pipeline")
    parser.add_argument("--token-ms", type=float, default=20.0, help="the streamed answers' pace, ms per word")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "attribution.json")
    args = parser.parse_args()
    settings = Settings()
    clapnq = dataset("clapnq")
    golds = [g for g in load_answers(clapnq) if g.answerable]
    index = open_eval_index(clapnq, settings)
    try:
        components = index.components
        attributor = Attributor(components.embedder, AttributionConfig.of(settings.evidence))
        builder, tokens = RequestBuilder(settings), args.max_tokens
        requests = [
            builder.chat([Turn("user", g.question)], tenant=TENANT, collection=index.collection, max_tokens=tokens)
            for g in golds
        ]
        questions = [
            (
                sentences_of(g.answers[0]) if g.answers else [],
                components.retriever.retrieve(r.retrieval(g.question)),
                set(g.gold_doc_ids),
            )
            for g, r in zip(golds, requests, strict=True)
        ]
        calibration = calibrate(attributor, questions)
        print(json.dumps({k: v for k, v in calibration.items() if k != "grid"}, indent=1))

        # Cost, on long answers made of gold sentences (about 300 of the embedder's tokens each).
        count = token_counter(components.embedder.tokenizer)
        long_ms: list[float] = []
        long_tokens: list[int] = []
        long_texts: list[str] = []
        for i, (_, hits, _) in enumerate(questions[:100]):
            text = ""
            for g in golds[i:] + golds[:i]:
                for sentence in sentences_of(g.answers[0]) if g.answers else []:
                    if count(text + " " + sentence) > 300:
                        break
                    text = f"{text} {sentence}".strip()
                else:
                    continue
                break
            started = time.perf_counter()
            attributor.attribute(text, hits)
            long_ms.append((time.perf_counter() - started) * 1000)
            long_tokens.append(count(text))
            long_texts.append(text)

        # The same answers streamed: what each waits for its evidence after its last token.
        after_last_ms: list[float] = []
        for request, text in zip(requests[: args.streamed], long_texts, strict=False):
            paced = build_pipeline(components, PacedAnswer(answer=text, word_s=args.token_ms / 1000))
            grounding = ground(components.retriever, paced._config, request)
            waited, streamed = asyncio.run(wait_after_last_token(paced, request, grounding))
            if streamed != text:
                raise RuntimeError("the paced answer did not stream through unchanged")
            after_last_ms.append(waited)

        # Cost next to generation, on the configured LLM's own answers.
        pipeline = build_pipeline(components)
        generated: list[dict[str, float]] = []
        for request, gold in zip(requests[: args.answers], golds, strict=False):
            grounding = ground(components.retriever, pipeline._config, request)
            fold = AnswerFold()
            started = time.perf_counter()
            for event in pipeline.stream(request, grounding):
                fold.add(event)
            generation_s = time.perf_counter() - started
            started = time.perf_counter()
            attributions = attributor.attribute(fold.text, grounding.hits)
            generated.append(
                {
                    "generation_ms": generation_s * 1000,
                    "attribution_ms": (time.perf_counter() - started) * 1000,
                    "tokens": fold.finished.completion_tokens,
                    "sentences": len(attributions),
                    "supported": sum(a.supported for a in attributions),
                }
            )
            del gold
    finally:
        index.components.close()

    def p(values: list[float], q: float) -> float:
        return round(percentile(values, q), 2) if values else 0.0

    long_answers: dict[str, Any] = {
        "answers": len(long_ms),
        "tokens_p50": statistics.median(long_tokens),
        "attribution_ms_p50": p(long_ms, 0.5),
        "attribution_ms_p95": p(long_ms, 0.95),
        "streamed": {
            "answers": len(after_last_ms),
            "ms_per_word": args.token_ms,
            "after_last_token_ms_p50": p(after_last_ms, 0.5),
            "after_last_token_ms_p95": p(after_last_ms, 0.95),
        },
    }
    attributed = [g["attribution_ms"] for g in generated]
    own_answers = {
        "answers": len(generated),
        "model": settings.llm.model if settings.llm.base_url else f"in-process {settings.llm.model}",
        "tokens_p50": statistics.median([g["tokens"] for g in generated]) if generated else 0,
        "generation_ms_p50": p([g["generation_ms"] for g in generated], 0.5),
        "attribution_ms_p50": p(attributed, 0.5),
        "attribution_ms_p95": p(attributed, 0.95),
        "sentences_supported": round(
            sum(g["supported"] for g in generated) / max(1, sum(g["sentences"] for g in generated)), 4
        ),
    }
    print(f"\n{'answers':>26} {'n':>4} {'tokens p50':>10} {'generation p50':>15} {'attribution p50':>16} {'p95':>9}")
    for name, row in (("gold sentences, ~300 tok", long_answers), ("generated", own_answers)):
        generation = f"{row['generation_ms_p50']} ms" if "generation_ms_p50" in row else "-"
        print(
            f"{name:>26} {row['answers']:>4} {row['tokens_p50']:>10} {generation:>15} "
            f"{row['attribution_ms_p50']:>13} ms {row['attribution_ms_p95']:>6} ms"
        )
    streamed = long_answers["streamed"]
    print(
        f"{'streamed, after last token':>26} {streamed['answers']:>4} {long_answers['tokens_p50']:>10} "
        f"{str(args.token_ms) + ' ms/word':>15} {streamed['after_last_token_ms_p50']:>13} ms "
        f"{streamed['after_last_token_ms_p95']:>6} ms"
    )
    cost = {"long_answers": long_answers, "generated": own_answers}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"calibration": calibration, "cost": cost}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
