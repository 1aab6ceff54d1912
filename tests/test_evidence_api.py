"""Answers a reader can check, on the wire: every response validated against OpenAI's own schema for the chat
completion and its chunks (generated from the types of OpenAI's Node.js library: scripts/openai-schema.sh), markers
checked also when split across streamed tokens, `url_citation` annotations, sentence attributions, and the
`openai` client and LangChain reading it all. In process: the real store and embedder, a scripted chat model."""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from langchain_openai import ChatOpenAI
from openai import OpenAI
from starlette.testclient import TestClient

from rag.answering.prompts import NO_SOURCES_ANSWER, UNANSWERABLE_ANSWER, UNSUPPORTED_ANSWER
from tests.support.app import BASE_URL, app_client, settings_for
from tests.support.docs_store import copy_store
from tests.support.paths import ROOT
from tests.support.scripted_chat import ScriptedChatModel

QUESTION = "How do I deploy the platform on Kubernetes?"
# The answer as the model streams it: markers split across tokens, one naming no source ([7] of three), one list
# with a number too many, and a sentence no source supports.
PIECES = [
    "Deploy",
    " the platform with its Helm chart ",
    "[",
    "1",
    "]. The chart deploys Qdrant as a StatefulSet [7",
    "]",
    " with persistent volumes [2,",
    " 9].",
    " Bananas are a yellow fruit rich in potassium.",
]
CHECKED = (
    "Deploy the platform with its Helm chart [1]. "
    "The chart deploys Qdrant as a StatefulSet with persistent volumes [2]. "
    "Bananas are a yellow fruit rich in potassium."
)


def _open_extras(schema: dict[str, Any], *paths: tuple[str, ...]) -> dict[str, Any]:
    """The schema with extra fields allowed where this platform adds its own (a client ignores them) and nowhere
    else: OpenAI's types forbid unknown fields everywhere."""
    opened = copy.deepcopy(schema)
    for path in paths:
        node = opened
        for key in path:
            node = node[key]
        node["additionalProperties"] = True
    return opened


@pytest.fixture(scope="module")
def schemas() -> dict[str, dict[str, Any]]:
    folder = Path(
        subprocess.run(
            [str(ROOT / "scripts" / "openai-schema.sh")], capture_output=True, text=True, check=True, timeout=600
        ).stdout.strip()
    )
    completion = json.loads((folder / "ChatCompletion.schema.json").read_text())
    chunk = json.loads((folder / "ChatCompletionChunk.schema.json").read_text())
    delta = ("definitions", "ChatCompletionChunk", "properties", "choices", "items", "properties", "delta")
    return {
        "completion": _open_extras(completion, ("definitions", "ChatCompletion")),
        "chunk": _open_extras(chunk, ("definitions", "ChatCompletionChunk"), delta),
    }


@pytest.fixture(scope="module")
def app(docs_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = settings_for(copy_store(docs_store, tmp_path_factory, "evidence"))
    with app_client(settings, ScriptedChatModel(pieces=PIECES)) as client:
        yield client


def _body(**extra: Any) -> dict[str, Any]:
    return {"model": "rag", "messages": [{"role": "user", "content": QUESTION}], **extra}


def _stream(app: TestClient, body: dict[str, Any]) -> list[dict[str, Any]]:
    with app.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        events = [e for e in response.read().decode().split("\n\n") if e.startswith("data: ")]
    assert events[-1] == "data: [DONE]"
    return [json.loads(e[6:]) for e in events[:-1]]


def _valid(schema: dict[str, Any], instance: dict[str, Any]) -> None:
    jsonschema.Draft7Validator(schema).validate(instance)


def test_the_schema_check_bites(schemas: dict[str, dict[str, Any]], app: TestClient) -> None:
    reply = app.post("/v1/chat/completions", json=_body()).json()
    _valid(schemas["completion"], reply)
    for broken in ("refusal", "content"):
        message = {k: v for k, v in reply["choices"][0]["message"].items() if k != broken}
        with pytest.raises(jsonschema.ValidationError):
            _valid(schemas["completion"], {**reply, "choices": [{**reply["choices"][0], "message": message}]})
    with pytest.raises(jsonschema.ValidationError):  # unknown fields stay forbidden where we add none
        _valid(schemas["completion"], {**reply, "usage": {**reply["usage"], "extra": 1}})


def test_a_non_streamed_answer_carries_its_checked_markers_and_evidence(
    schemas: dict[str, dict[str, Any]], app: TestClient
) -> None:
    reply = app.post("/v1/chat/completions", json=_body()).json()
    _valid(schemas["completion"], reply)
    message = reply["choices"][0]["message"]
    assert message["content"] == CHECKED and message["refusal"] is None
    assert reply["removed_markers"] == 2 and reply["abstention"] is None
    citations = reply["citations"]
    assert [c["cited"] for c in citations] == [c["index"] in (1, 2) for c in citations]
    spans = [(a["url_citation"]["start_index"], a["url_citation"]["end_index"]) for a in message["annotations"]]
    assert [CHECKED[a:b] for a, b in spans] == ["[1]", "[2]"]
    assert [a["url_citation"]["url"] for a in message["annotations"]] == [
        citations[0]["source"],
        citations[1]["source"],
    ]
    attributions = reply["attributions"]
    sentences = [CHECKED[a["start_index"] : a["end_index"]] for a in attributions]
    assert sentences == [
        "Deploy the platform with its Helm chart [1].",
        "The chart deploys Qdrant as a StatefulSet with persistent volumes [2].",
        "Bananas are a yellow fruit rich in potassium.",
    ]
    assert [a["supported"] for a in attributions] == [True, True, False]
    assert all(a["sources"] and min(a["sources"]) >= 1 for a in attributions[:2]) and attributions[2]["sources"] == []


def test_a_stream_validates_chunk_by_chunk_and_ends_with_the_same_evidence(
    schemas: dict[str, dict[str, Any]], app: TestClient
) -> None:
    whole = app.post("/v1/chat/completions", json=_body()).json()
    chunks = _stream(app, _body(stream=True, stream_options={"include_usage": True}))
    for chunk in chunks:
        _valid(schemas["chunk"], chunk)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == CHECKED and "[7" not in text
    finishing = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert len(finishing) == 1
    assert finishing[0]["choices"][0]["delta"]["annotations"] == whole["choices"][0]["message"]["annotations"]
    (last,) = [c for c in chunks if "citations" in c]
    assert not last["choices"]
    for field in ("citations", "attributions", "removed_markers", "abstention"):
        assert last[field] == whole[field], field
    assert chunks[-1]["usage"]["completion_tokens"] == len(PIECES)


def test_an_abstention_validates_too(schemas: dict[str, dict[str, Any]], app: TestClient) -> None:
    body = {"model": "rag", "messages": [{"role": "user", "content": "Which team won the 1998 football world cup?"}]}
    reply = app.post("/v1/chat/completions", json=body).json()
    _valid(schemas["completion"], reply)
    assert reply["choices"][0]["message"]["content"] == NO_SOURCES_ANSWER
    assert reply["abstention"] == "no_sources" and reply["citations"] == [] and reply["attributions"] == []
    for chunk in _stream(app, {**body, "stream": True}):
        _valid(schemas["chunk"], chunk)


def test_the_openai_client_and_langchain_read_annotations_and_extras(app: TestClient) -> None:
    client = OpenAI(base_url=BASE_URL + "/v1", api_key="unused", max_retries=0, http_client=app)
    reply = client.chat.completions.create(model="rag", messages=[{"role": "user", "content": QUESTION}])
    message = reply.choices[0].message
    assert message.refusal is None and message.annotations is not None
    assert [a.type for a in message.annotations] == ["url_citation", "url_citation"]
    first = message.annotations[0].url_citation
    assert (message.content or "")[first.start_index : first.end_index] == "[1]"
    assert [a["supported"] for a in (reply.model_extra or {})["attributions"]] == [True, True, False]
    streamed = list(
        client.chat.completions.create(model="rag", messages=[{"role": "user", "content": QUESTION}], stream=True)
    )
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == CHECKED

    chat = ChatOpenAI(base_url=BASE_URL + "/v1", api_key="unused", model="rag", max_retries=0, http_client=app)  # type: ignore[arg-type]
    answer = chat.invoke(QUESTION)
    assert answer.text == CHECKED
    pieces = list(chat.stream(QUESTION))
    assert "".join(p.text for p in pieces) == CHECKED


def test_an_answer_no_source_supports_becomes_the_abstention_when_so_configured(
    docs_store: Path, tmp_path_factory: pytest.TempPathFactory, schemas: dict[str, dict[str, Any]]
) -> None:
    invented = ["Bananas are a yellow fruit", " rich in potassium [1]."]
    settings = settings_for(copy_store(docs_store, tmp_path_factory, "unsupported"), unsupported_answers="abstain")
    with app_client(settings, ScriptedChatModel(pieces=invented)) as app:
        reply = app.post("/v1/chat/completions", json=_body()).json()
        _valid(schemas["completion"], reply)
        assert reply["choices"][0]["message"]["content"] == UNSUPPORTED_ANSWER
        assert reply["choices"][0]["message"]["annotations"] == []
        assert reply["abstention"] == "unsupported" and not any(c["cited"] for c in reply["citations"])
        chunks = _stream(app, _body(stream=True))
        assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == (
            UNSUPPORTED_ANSWER
        )
    with app_client(settings.updated(unsupported_answers="flag"), ScriptedChatModel(pieces=invented)) as app:
        reply = app.post("/v1/chat/completions", json=_body()).json()
        assert reply["choices"][0]["message"]["content"] == "".join(invented)  # kept, and flagged
        assert reply["abstention"] is None and [a["supported"] for a in reply["attributions"]] == [False]


def test_an_unanswerable_question_abstains_with_its_reason(
    docs_store: Path, tmp_path_factory: pytest.TempPathFactory, schemas: dict[str, dict[str, Any]]
) -> None:
    settings = settings_for(copy_store(docs_store, tmp_path_factory, "gate"), answerability_min=0.999)
    with app_client(settings, ScriptedChatModel(pieces=PIECES)) as app:
        reply = app.post("/v1/chat/completions", json=_body()).json()
        _valid(schemas["completion"], reply)
        assert reply["choices"][0]["message"]["content"] == UNANSWERABLE_ANSWER
        assert reply["abstention"] == "unanswerable" and reply["citations"] == []
        assert reply["usage"]["completion_tokens"] == 0  # the model was not called
