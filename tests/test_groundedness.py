"""Groundedness scorers: token support by hand-checked cases, the LLM judge's prompt and reply parsing with a
scripted OpenAI-compatible server on loopback (the judge against a real server is in tests/test_vllm.py)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from evals.groundedness import JUDGE_INSTRUCTIONS, TokenSupport, build_groundedness, parse_judge_score
from rag.settings import Settings


class ScriptedJudge(ThreadingHTTPServer):
    """An OpenAI-compatible chat endpoint that records each request body and replies `score: 0.5`."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _JudgeHandler)
        self.requests: list[dict[str, Any]] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _JudgeHandler(BaseHTTPRequestHandler):
    server: ScriptedJudge

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.server.requests.append(json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0)))))
        message = {"role": "assistant", "content": "score: 0.5"}
        body = json.dumps(
            {
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": "some-judge",
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def scripted_judge() -> Iterator[ScriptedJudge]:
    server = ScriptedJudge()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


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


def test_llm_judge_sends_numbered_sources_and_the_answer(scripted_judge: ScriptedJudge) -> None:
    judge = build_groundedness(Settings(judge_base_url=scripted_judge.base_url, judge_model="some-judge"))
    assert judge("Water boils at 100 C [1].", ["Water boils at 100 C.", "Ice melts at 0 C."]) == 0.5
    (sent,) = scripted_judge.requests
    assert sent["model"] == "some-judge" and sent["temperature"] == 0.0
    system, user = sent["messages"]
    assert system == {"role": "system", "content": JUDGE_INSTRUCTIONS}
    assert user["role"] == "user"
    assert user["content"] == (
        "Source [1]: Water boils at 100 C.\n\nSource [2]: Ice melts at 0 C.\n\nAnswer: Water boils at 100 C [1]."
    )
    assert judge.name == "llm-judge:some-judge" and judge("  ", ["x"]) is None
    assert len(scripted_judge.requests) == 1  # an empty answer is not sent to the judge


def test_the_judge_is_used_only_when_its_endpoint_is_set() -> None:
    assert build_groundedness(Settings()).name == "token-support"
    judged = build_groundedness(Settings(judge_base_url="http://127.0.0.1:9/v1", judge_model="j"))
    assert judged.name == "llm-judge:j"
