"""Evaluation results made by hand (no model, no store): a retrieval run and an answers run as `rag eval` returns
them, for the tests of reports and of what shows them (the playground, its browser test)."""

from __future__ import annotations

from pathlib import Path

from evals.results import (
    AnswerResults,
    AnswerSummary,
    GenerationSettings,
    ModeResult,
    QuestionResult,
    RetrievalMetrics,
    RetrievalResults,
    RetrievalSettings,
)
from rag.settings import RetrievalMode, Settings


def retrieval_results(settings: Settings) -> RetrievalResults:
    metrics: dict[RetrievalMode, RetrievalMetrics] = {
        "dense": RetrievalMetrics(0.6638, 0.7912, 0.9367, 0.6281),
        "sparse": RetrievalMetrics(0.6846, 0.8108, 0.9223, 0.6512),
        "hybrid": RetrievalMetrics(0.7320, 0.8589, 0.9733, 0.6977),
    }
    return RetrievalResults(
        dataset=Path("../shared/data/scifact"),
        split="test",
        collection="eval-0123abcd",
        corpus_chunks_embedded=0,
        settings=RetrievalSettings.of(settings),
        modes=tuple(ModeResult(mode, 300, m, 12.34, 20.0, {}) for mode, m in metrics.items()),
    )


def question_result(qid: str, answerable: bool, answer: str, f1: float | None, abstained: bool) -> QuestionResult:
    return QuestionResult(
        qid=qid,
        answerable=answerable,
        answer=answer,
        gold_retrieved=answerable,
        gold_cited=answerable,
        citation_precision=1.0 if answerable else None,
        token_f1=f1,
        rouge_l=f1,
        abstained=abstained,
        abstention_correct=abstained != answerable,
        groundedness=0.8,
        retrieval_ms=10.0,
        first_token_ms=100.0,
        generation_ms=900.0,
    )


SUMMARY = AnswerSummary(
    questions=14,
    answerable=12,
    unanswerable=2,
    gold_retrieved=1.0,
    gold_cited=1.0,
    citation_precision=None,
    token_f1=0.4583,
    rouge_l=0.4583,
    abstention_accuracy=0.9286,
    abstained_when_unanswerable=0.5,
    answered_when_answerable=1.0,
    groundedness=0.8,
    groundedness_method="token-support",
    groundedness_unscored=0,
    retrieval_ms_p50=10.0,
    first_token_ms_p50=100.0,
    generation_ms_p50=900.0,
)


def answers_results(settings: Settings, questions: list[QuestionResult] | None = None) -> AnswerResults:
    if questions is None:
        questions = [question_result(f"a{i}", True, f"answer number {i} [1]", i / 12, False) for i in range(12)]
        questions += [
            question_result("u-declined", False, "The documents do not contain the answer.", None, True),
            question_result("u-answered", False, "A | piped\nmultiline " + "x" * 400, None, False),
        ]
    return AnswerResults(
        dataset=Path("../shared/data/clapnq"),
        collection="eval-feed",
        retrieval=RetrievalSettings.of(settings),
        generation=GenerationSettings.of(settings),
        summary=SUMMARY,
        questions=tuple(questions),
    )
