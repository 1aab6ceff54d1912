"""Answer quality: each question of a dataset's `answers.jsonl` goes through the chat pipeline the API serves
(retrieve, prompt, generate), scored against its gold answers and documents.

Per question: whether a gold document was retrieved and whether the answer cited one ([n] markers), citation
precision, token F1 and ROUGE-L against the gold answers (answerable questions; [n] markers removed), whether
the answer abstained (the right answer for unanswerable ones), groundedness against the retrieved sources (an
LLM judge or token support: evals/groundedness.py), and latency per stage (retrieval, time to first token,
generation).

`evaluate_answers` runs a dataset's questions (or a sample of them, answerable and unanswerable in turn) and
returns them scored and summarized (evals/results.py).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from evals.answer_metrics import abstains, citation_precision, rouge_l, token_f1
from evals.beir import GoldAnswer, check_answers_dataset, load_answers
from evals.eval_index import TENANT, open_eval_index
from evals.feedback_export import comparable
from evals.groundedness import Groundedness, build_groundedness
from evals.results import AnswerResults, AnswerSummary, GenerationSettings, QuestionResult, RetrievalSettings
from rag.answering.pipeline import RagPipeline
from rag.answering.prompts import Turn
from rag.answering.requests import RequestBuilder
from rag.answering.stream import AnswerFold
from rag.components import build_pipeline
from rag.evidence.markers import MARKER
from rag.settings import Settings

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel


class Advancing(Protocol):
    def advance(self) -> None: ...


# Given the number of questions, a context whose `advance()` is called after each (the CLI's progress bar).
ProgressFactory = Callable[[int], AbstractContextManager[Advancing]]


class _Silent:
    def advance(self) -> None:
        pass


def sample_questions(golds: Sequence[GoldAnswer], limit: int | None) -> list[GoldAnswer]:
    """Answerable and unanswerable questions taken in turn, in file order, up to `limit` (all when None)."""
    if limit is None or limit >= len(golds):
        return list(golds)
    yes, no = [g for g in golds if g.answerable], [g for g in golds if not g.answerable]
    mixed = [g for pair in zip(yes, no, strict=False) for g in pair]
    rest = yes[len(no) :] + no[len(yes) :]
    return (mixed + rest)[:limit]


def evaluate_answers(
    dataset: Path,
    settings: Settings,
    *,
    max_questions: int | None = None,
    progress: ProgressFactory | None = None,
    chat_model: BaseChatModel | None = None,
) -> AnswerResults:
    """The dataset's questions (`sample_questions`) through the chat pipeline against its eval collection, which is
    ingested first where the cache lacks it; `chat_model` replaces the configured LLM. `DatasetError` when the
    folder lacks corpus.jsonl or answers.jsonl."""
    check_answers_dataset(dataset)
    golds = sample_questions(load_answers(dataset), max_questions)
    index = open_eval_index(dataset, settings)
    try:
        pipeline = build_pipeline(index.components, chat_model)
        groundedness = build_groundedness(settings)
        results: list[QuestionResult] = []
        with progress(len(golds)) if progress else nullcontext(_Silent()) as tracker:
            for gold in golds:
                results.append(
                    evaluate_question(
                        pipeline,
                        gold,
                        collection=index.collection,
                        tenant=TENANT,
                        settings=settings,
                        groundedness=groundedness,
                    )
                )
                tracker.advance()
    finally:
        index.components.close()
    return AnswerResults(
        dataset=dataset,
        collection=index.collection,
        retrieval=RetrievalSettings.of(settings),
        generation=GenerationSettings.of(settings),
        summary=summarize(results, groundedness.name, settings.retrieval.answerability_min),
        questions=tuple(results),
    )


def evaluate_question(
    pipeline: RagPipeline,
    gold: GoldAnswer,
    *,
    collection: str,
    tenant: str,
    settings: Settings,
    groundedness: Groundedness,
) -> QuestionResult:
    # built as the API builds a chat's request: what this measures is what users get
    request = RequestBuilder(settings).chat([Turn("user", gold.question)], tenant=tenant, collection=collection)
    started = time.perf_counter()
    grounding = pipeline.ground(request)
    retrieved_at = time.perf_counter()
    fold = AnswerFold()
    for event in pipeline.stream(request, grounding):
        fold.add(event)
    done_at, text, first_token_at = time.perf_counter(), fold.text, fold.first_token_at
    evidence = fold.finished.evidence
    by_index = {c.index: c.doc_id for c in evidence.citations}
    cited = [by_index[n] for marker in evidence.markers for n in marker.sources if n in by_index]  # checked markers
    gold_docs = set(gold.gold_doc_ids)
    abstained = evidence.abstention is not None or abstains(text)
    plain = MARKER.sub(" ", text)  # text metrics without the [n] markers
    supported = [a for a in evidence.attributions if a.supported]
    supporting_docs = {by_index[n] for a in supported for n in a.sources if n in by_index}
    return QuestionResult(
        qid=gold.qid,
        answerable=gold.answerable,
        answer=text,
        gold_retrieved=any(h.chunk.doc_id in gold_docs for h in grounding.hits),
        gold_cited=any(doc in gold_docs for doc in cited),
        citation_precision=citation_precision(cited, gold.gold_doc_ids) if gold.answerable else None,
        token_f1=token_f1(plain, gold.answers) if gold.answerable and gold.answers else None,
        rouge_l=rouge_l(plain, gold.answers) if gold.answerable and gold.answers else None,
        abstained=abstained,
        abstention_correct=abstained != gold.answerable,
        groundedness=groundedness(plain, [h.chunk.text for h in grounding.hits]),
        retrieval_ms=round((retrieved_at - started) * 1000, 1),
        first_token_ms=round(((first_token_at or done_at) - retrieved_at) * 1000, 1),
        generation_ms=round((done_at - retrieved_at) * 1000, 1),
        valid_marker=bool(evidence.markers),
        removed_markers=evidence.removed_markers,
        sentences=len(evidence.attributions),
        sentences_supported=len(supported),
        gold_supporting=bool(supporting_docs & gold_docs) if gold.answerable and not abstained else None,
        answerable_probability=grounding.answerable,
        abstention_reason=evidence.abstention,
        repeated_rejected=_repeats(text, gold.rejected_answers),
    )


def _repeats(answer: str, rejected: Sequence[str]) -> bool | None:
    """Whether the answer is one of the rejected ones, unchanged; None when none was rejected."""
    return comparable(answer) in {comparable(a) for a in rejected} if rejected else None


def _mean(values: Sequence[float | None]) -> float | None:
    present = [float(v) for v in values if v is not None]
    return round(statistics.fmean(present), 4) if present else None


def _median(values: Sequence[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def abstention_curve(
    results: Sequence[QuestionResult], floor: float, *, with_attribution: bool = False
) -> list[dict[str, float]]:
    """For each threshold from `floor` up, the share of answerable questions answered and of unanswerable ones
    turned away, were the chat to abstain below that answerability probability (and, `with_attribution`, when no
    sentence of its answer is supported). Empty when no question has a probability (the gate was off)."""
    if not results or any(r.answerable_probability is None and r.abstention_reason is None for r in results):
        return []

    def answered(r: QuestionResult, threshold: float) -> bool:
        p = r.answerable_probability
        if r.abstained or p is None or p < threshold:
            return False
        return not with_attribution or r.sentences_supported > 0

    rows = []
    for step in range(round(floor * 100), 100, 5):
        threshold = round(step / 100, 2)
        yes = [answered(r, threshold) for r in results if r.answerable]
        no = [not answered(r, threshold) for r in results if not r.answerable]
        rows.append(
            {
                "threshold": threshold,
                "answered_when_answerable": round(sum(yes) / len(yes), 4) if yes else 0.0,
                "abstained_when_unanswerable": round(sum(no) / len(no), 4) if no else 0.0,
            }
        )
    return rows


def summarize(
    results: Sequence[QuestionResult], groundedness_method: str, answerability_min: float = 0.0
) -> AnswerSummary:
    answerable = [r for r in results if r.answerable]
    unanswerable = [r for r in results if not r.answerable]
    answered = [r for r in results if not r.abstained]
    sentences = sum(r.sentences for r in answered)
    return AnswerSummary(
        questions=len(results),
        answerable=len(answerable),
        unanswerable=len(unanswerable),
        gold_retrieved=_mean([float(r.gold_retrieved) for r in answerable]),
        gold_cited=_mean([float(r.gold_cited) for r in answerable]),
        citation_precision=_mean([r.citation_precision for r in answerable]),
        token_f1=_mean([r.token_f1 for r in answerable]),
        rouge_l=_mean([r.rouge_l for r in answerable]),
        abstention_accuracy=_mean([float(r.abstention_correct) for r in results]),
        abstained_when_unanswerable=_mean([float(r.abstained) for r in unanswerable]),
        answered_when_answerable=_mean([float(not r.abstained) for r in answerable]),
        groundedness=_mean([r.groundedness for r in results]),
        groundedness_method=groundedness_method,
        groundedness_unscored=sum(1 for r in results if r.groundedness is None),
        retrieval_ms_p50=_median([r.retrieval_ms for r in results]),
        first_token_ms_p50=_median([r.first_token_ms for r in results]),
        generation_ms_p50=_median([r.generation_ms for r in results]),
        valid_marker=_mean([float(r.valid_marker) for r in answered]),
        removed_markers=sum(r.removed_markers for r in results),
        sentences_supported=round(sum(r.sentences_supported for r in answered) / sentences, 4) if sentences else None,
        gold_supporting=_mean([float(r.gold_supporting) for r in answerable if r.gold_supporting is not None]),
        abstention_curve=abstention_curve(results, answerability_min),
        abstention_curve_with_attribution=abstention_curve(results, answerability_min, with_attribution=True),
        rejected_cases=sum(1 for r in results if r.repeated_rejected is not None),
        rejected_repeated=_mean([float(r.repeated_rejected) for r in results if r.repeated_rejected is not None]),
    )
