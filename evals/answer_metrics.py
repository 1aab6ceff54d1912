"""Answer metrics against gold answers: SQuAD-style token F1, ROUGE-L (Google's `rouge-score`), whether an answer
abstains, and citation precision. Each takes the best score over the gold answers, as the benchmarks do."""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from rag.answering.prompts import NO_SOURCES_ANSWER

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)
# How the model (or the pipeline's own abstention) says the documents do not answer the question.
_ABSTAINS = re.compile(
    r"(do(es)? not|don't|doesn't) (contain|mention|include|provide|say)|no (relevant )?information|"
    r"(cannot|can't|unable to) (answer|find|determine)|not (mentioned|found|stated)",
    re.IGNORECASE,
)


def normalize(text: str) -> list[str]:
    """Lowercased words without punctuation and articles (the SQuAD evaluation's normalization)."""
    return _ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION)).split()


def token_f1(answer: str, golds: Sequence[str]) -> float:
    best = 0.0
    predicted = normalize(answer)
    for gold in golds:
        expected = normalize(gold)
        common = sum((Counter(predicted) & Counter(expected)).values())
        if common:
            precision, recall = common / len(predicted), common / len(expected)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


@lru_cache(maxsize=1)
def _rouge() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def rouge_l(answer: str, golds: Sequence[str]) -> float:
    """ROUGE-L F-measure, the best over the gold answers."""
    return max((float(_rouge().score(gold, answer)["rougeL"].fmeasure) for gold in golds), default=0.0)


def abstains(answer: str) -> bool:
    """Whether the answer says the documents do not contain the answer."""
    return answer.strip() == NO_SOURCES_ANSWER or bool(_ABSTAINS.search(answer))


def citation_precision(cited: Sequence[str], gold: Sequence[str]) -> float | None:
    """Share of the cited documents that are gold; None when nothing was cited."""
    if not cited:
        return None
    wanted = set(gold)
    return sum(1 for doc in cited if doc in wanted) / len(cited)
