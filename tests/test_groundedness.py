"""Groundedness scorers: token support by hand-checked cases, the LLM judge's prompt and reply parsing with a
scripted model (the judge against a real server is in tests/test_vllm.py)."""

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from evals.groundedness import LlmJudge, TokenSupport, build_groundedness, parse_judge_score
from rag.settings import Settings


def test_token_support_counts_content_words_found_in_the_sources() -> None:
    support = TokenSupport()
    assert support("Water boils at 100 degrees.", ["Water boils at 100 degrees Celsius."]) == 1.0
    assert support("Water freezes at 100 degrees.", ["Water boils at 100 degrees Celsius."]) == pytest.approx(0.75)
    assert support("the of and", ["anything"]) is None  # no content words


@pytest.mark.parametrize(
    ("reply", "score"),
    [
        ("score: 0.75", 0.75),
        ("Score = 1", 1.0),
        ("2 of 4 claims are supported. score: 0.5", 0.5),
        ("0.3", 0.3),
        ("I think .8 of it holds", 0.8),
        ("score: 7", None),  # out of range
        ("10 claims", None),
        ("no idea", None),
    ],
)
def test_judge_reply_parsing(reply: str, score: float | None) -> None:
    assert parse_judge_score(reply) == score


def test_llm_judge_sends_numbered_sources_and_the_answer() -> None:
    model = GenericFakeChatModel(messages=iter([AIMessage("score: 0.5")]))
    judge = LlmJudge(model, "some-judge")
    assert judge("Water boils at 100 C [1].", ["Water boils at 100 C.", "Ice melts at 0 C."]) == 0.5
    assert judge.name == "llm-judge:some-judge" and judge("  ", ["x"]) is None


def test_the_judge_is_used_only_when_its_endpoint_is_set() -> None:
    assert build_groundedness(Settings()).name == "token-support"
    judged = build_groundedness(Settings(judge_base_url="http://127.0.0.1:9/v1", judge_model="j"))
    assert judged.name == "llm-judge:j"
