"""Answer metrics: the standard definitions, on cases small enough to check by hand."""

import pytest

from evals.answer_metrics import abstains, citation_precision, normalize, rouge_l, token_f1
from rag.answering.prompts import NO_SOURCES_ANSWER


def test_token_f1_is_squad_style_and_takes_the_best_gold() -> None:
    assert normalize("The Cat, sat!") == ["cat", "sat"]
    assert token_f1("the cat sat", ["a cat sat down"]) == pytest.approx(2 * 1 * (2 / 3) / (1 + 2 / 3))
    assert token_f1("dogs bark", ["cats meow", "dogs bark loudly"]) == pytest.approx(0.8)
    assert token_f1("nothing shared", ["cats meow"]) == 0.0


def test_rouge_l_uses_the_longest_common_subsequence() -> None:
    assert rouge_l("the cat sat on the mat", ["the cat sat on the mat"]) == pytest.approx(1.0)
    partial = rouge_l("the cat lay on a mat", ["the cat sat on the mat"])
    assert 0.3 < partial < 1.0 and rouge_l("zebra", ["the cat"]) == 0.0


def test_abstention_and_citation_precision() -> None:
    assert abstains(NO_SOURCES_ANSWER) and abstains("The documents do not contain information about that.")
    assert not abstains("Seasonality is used to forecast the weather.")
    assert citation_precision(["a", "b", "a"], ["a"]) == pytest.approx(2 / 3)
    assert citation_precision([], ["a"]) is None
