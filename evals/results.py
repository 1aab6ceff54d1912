"""What the evaluations return: typed results that `rag eval`, the quality gate, the reports and the benchmarks
share, each with the settings that produced it. `to_json()` is the object `rag eval ... --json` prints and a
report's `report.json` holds; the settings are in the dataclasses (and the Markdown reports), not in that JSON."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from rag.answering.requests import RequestBuilder
from rag.settings import RetrievalMode, Settings

MetricName = Literal["ndcg@10", "recall@10", "recall@100", "mrr@10"]
METRIC_NAMES: tuple[MetricName, ...] = ("ndcg@10", "recall@10", "recall@100", "mrr@10")
RETRIEVAL_MODES: tuple[RetrievalMode, ...] = ("dense", "sparse", "hybrid")
PACKAGED_MODEL = "all-MiniLM-L6-v2"


@dataclass(frozen=True)
class RetrievalMetrics:
    """Means over the queries that have qrels (ir-measures, trec_eval's definitions)."""

    ndcg_at_10: float
    recall_at_10: float
    recall_at_100: float
    mrr_at_10: float

    def by_name(self) -> dict[str, float]:
        """The metrics under their JSON and thresholds-file names (`ndcg@10`, ...)."""
        return {
            "ndcg@10": self.ndcg_at_10,
            "recall@10": self.recall_at_10,
            "recall@100": self.recall_at_100,
            "mrr@10": self.mrr_at_10,
        }

    def value(self, name: MetricName) -> float:
        return self.by_name()[name]

    @classmethod
    def from_names(cls, values: Mapping[str, float]) -> RetrievalMetrics:
        return cls(
            ndcg_at_10=float(values["ndcg@10"]),
            recall_at_10=float(values["recall@10"]),
            recall_at_100=float(values["recall@100"]),
            mrr_at_10=float(values["mrr@10"]),
        )


@dataclass(frozen=True)
class IndexSettings:
    """What an eval collection's vectors depend on besides the corpus (its cache key hashes the same values)."""

    embed_model: str  # a model directory, or the packaged all-MiniLM-L6-v2
    embed_backend: str
    chunk_size: int
    chunk_overlap: int

    @classmethod
    def of(cls, settings: Settings) -> IndexSettings:
        return cls(
            embed_model=str(settings.embedding.model_path or PACKAGED_MODEL),
            embed_backend=settings.embedding.backend,
            chunk_size=settings.ingest.chunk_size,
            chunk_overlap=settings.ingest.chunk_overlap,
        )

    def describe(self) -> str:
        return f"{self.embed_model}/{self.embed_backend}, chunks {self.chunk_size}/{self.chunk_overlap}"


@dataclass(frozen=True)
class RetrievalSettings:
    """How queries ran: the index's settings, hybrid fusion and the relevance floor."""

    index: IndexSettings
    fusion: Literal["rrf", "dbsf"]
    rrf_k: int
    fusion_weights: tuple[float, float]  # dense, sparse (RRF)
    prefetch_k: int
    min_relevance: float  # RAG_MIN_RELEVANCE: a query whose best chunk is less similar has no hits (0: no floor)

    @classmethod
    def of(cls, settings: Settings) -> RetrievalSettings:
        return cls(
            index=IndexSettings.of(settings),
            fusion=settings.retrieval.fusion,
            rrf_k=settings.retrieval.rrf_k,
            fusion_weights=(settings.retrieval.fusion_dense_weight, settings.retrieval.fusion_sparse_weight),
            prefetch_k=settings.retrieval.prefetch_k,
            min_relevance=settings.retrieval.min_relevance,
        )


@dataclass(frozen=True)
class ModeResult:
    """One retrieval mode over every query of the qrels."""

    mode: RetrievalMode
    queries: int
    metrics: RetrievalMetrics
    latency_ms_p50: float
    latency_ms_p95: float
    run: dict[str, dict[str, float]] = field(repr=False, compare=False)  # query id -> {doc id: score}

    def to_json(self) -> dict[str, Any]:
        return {**self.metrics.by_name(), "queries": self.queries, "latency_ms_p50": self.latency_ms_p50}


@dataclass(frozen=True)
class RetrievalResults:
    """`rag eval retrieval`: one dataset split, each mode asked for, against the dataset's eval collection."""

    dataset: Path  # as the caller named it
    split: str
    collection: str
    corpus_chunks_embedded: int  # 0 when the cached collection was complete
    settings: RetrievalSettings
    modes: tuple[ModeResult, ...]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "dataset": str(self.dataset),
            "split": self.split,
            "collection": self.collection,
            "corpus_chunks_embedded": self.corpus_chunks_embedded,
            "modes": {m.mode: m.to_json() for m in self.modes},
        }
        if len(self.modes) == 1:  # one mode: its metrics at the top level too, as `--json` users expect
            out.update(self.modes[0].metrics.by_name())
        return out


@dataclass(frozen=True)
class QuestionResult:
    """One question of `answers.jsonl` through the chat pipeline (evals/answers_eval.py says what each means)."""

    qid: str
    answerable: bool
    answer: str
    gold_retrieved: bool
    gold_cited: bool
    citation_precision: float | None
    token_f1: float | None  # answerable questions only
    rouge_l: float | None
    abstained: bool
    abstention_correct: bool  # abstained exactly when the question is unanswerable
    groundedness: float | None
    retrieval_ms: float
    first_token_ms: float
    generation_ms: float
    # The answer's evidence (rag/evidence/evidence.py).
    valid_marker: bool = False  # it cites at least one source with a checked [n] marker
    removed_markers: int = 0  # [n] numbers that named no source
    sentences: int = 0
    sentences_supported: int = 0  # sentences a source supports (rag/evidence/attribution.py)
    gold_supporting: bool | None = None  # answerable and answered: a gold document supports one of its sentences
    answerable_probability: float | None = None  # the answerability model's, before generation
    abstention_reason: str | None = None  # the pipeline's own: no_sources, unanswerable, unsupported
    repeated_rejected: bool | None = None  # a question with rejected answers: the answer is one of them, unchanged


@dataclass(frozen=True)
class AnswerSummary:
    """Means over the questions (rates over the answerable ones where a gold answer is needed), p50 latencies."""

    questions: int
    answerable: int
    unanswerable: int
    gold_retrieved: float | None
    gold_cited: float | None
    citation_precision: float | None
    token_f1: float | None
    rouge_l: float | None
    abstention_accuracy: float | None
    abstained_when_unanswerable: float | None
    answered_when_answerable: float | None
    groundedness: float | None
    groundedness_method: str
    groundedness_unscored: int
    retrieval_ms_p50: float | None
    first_token_ms_p50: float | None
    generation_ms_p50: float | None
    # The answers' evidence, over the answers that did not abstain.
    valid_marker: float | None = None  # share citing a source with a checked marker
    removed_markers: int = 0  # markers naming no source, all answers together
    sentences_supported: float | None = None  # share of all their sentences that a source supports
    gold_supporting: float | None = None  # answerable: share where a gold document supports a sentence
    # Abstention by threshold on the answerability probability (the generated answer's own abstention counts too):
    # rows {threshold, answered_when_answerable, abstained_when_unanswerable}, from the run's RAG_ANSWERABILITY_MIN
    # up (below it the questions turned away were never generated); `with_attribution` also turns away answers with
    # no supported sentence.
    abstention_curve: list[dict[str, float]] = field(default_factory=list)
    abstention_curve_with_attribution: list[dict[str, float]] = field(default_factory=list)
    # Questions with rejected answers (a feedback dataset's thumbs-down), and the share answered with one of them
    # again, unchanged ([n] markers and whitespace aside).
    rejected_cases: int = 0
    rejected_repeated: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GenerationSettings:
    """How answers were asked for and generated (rag/answering/requests.py fills a chat request from the same
    settings)."""

    retrieval_mode: RetrievalMode
    top_k: int
    min_relevance: float  # best dense cosine below this: the answer abstains without the LLM
    answerability_min: float  # answerability probability below this: the answer abstains without the LLM
    llm_model: str
    llm_base_url: str | None  # None: the in-process engine
    max_tokens: int
    temperature: float

    @classmethod
    def of(cls, settings: Settings) -> GenerationSettings:
        """What each question is asked with: the request defaults as rag/answering/requests.py fills them, and the
        LLM."""
        asked = RequestBuilder(settings).chat([])
        return cls(
            retrieval_mode=asked.mode,
            top_k=asked.top_k,
            min_relevance=asked.min_relevance,
            answerability_min=settings.retrieval.answerability_min,
            llm_model=settings.llm.model,
            llm_base_url=settings.llm.base_url,
            max_tokens=asked.max_tokens,
            temperature=asked.temperature,
        )


@dataclass(frozen=True)
class AnswerResults:
    """`rag eval answers`: the questions asked, each scored, and their summary."""

    dataset: Path  # as the caller named it
    collection: str
    retrieval: RetrievalSettings
    generation: GenerationSettings
    summary: AnswerSummary
    questions: tuple[QuestionResult, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": str(self.dataset),
            "summary": self.summary.to_json(),
            "questions": [asdict(q) for q in self.questions],
        }
