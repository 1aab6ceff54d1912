"""Whether the retrieved sources can answer a question, decided before generation from the retrieval's own signals.

The signals (`RetrievalSignals`, computed by the retriever with the question's vectors it already has): the best
dense cosine similarity, its margin over the second best, the best BM25 score per query term, and the share of the
question's terms (BM25's tokenizer) that the top chunks hold. A logistic model over them gives the probability that
the question is answerable; below RAG_ANSWERABILITY_MIN the chat abstains without calling the LLM (reason
`unanswerable`). Its weights are fitted by python -m benchmarks.answerability on ClapNQ (answerable and
unanswerable questions) and SciFact's test queries (all answerable), on one half of each, and checked on the other
half (benchmarks/results/answerability.json holds the whole trade-off curve); they ship in answerability_model.json.
After generation, the attribution (rag/evidence/attribution.py) is the second check: RAG_UNSUPPORTED_ANSWERS.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

MODEL_FILE = Path(__file__).with_name("answerability_model.json")


@dataclass(frozen=True, slots=True)
class RetrievalSignals:
    dense_top: float  # best dense cosine similarity
    dense_margin: float  # best minus second best dense similarity
    sparse_top: float  # best BM25 score divided by the number of query terms
    coverage: float  # share of the query's terms held by the top chunks

    def features(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class AnswerabilityModel:
    """A logistic model over `RetrievalSignals` (weights by feature name, and a bias)."""

    weights: dict[str, float]
    bias: float

    def probability(self, signals: RetrievalSignals) -> float:
        features = signals.features()
        z = self.bias + sum(w * features[name] for name, w in self.weights.items())
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> AnswerabilityModel:
        data = json.loads(path.read_text())
        unknown = set(data["weights"]) - set(RetrievalSignals.__dataclass_fields__)
        if unknown:
            raise ValueError(f"{path}: unknown features {sorted(unknown)}")
        return cls(weights={k: float(v) for k, v in data["weights"].items()}, bias=float(data["bias"]))
