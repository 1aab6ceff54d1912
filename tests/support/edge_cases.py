"""Edge cases that got a 500 or were accepted wrongly (issue 14), as raw request bodies with the 400 each must get
in OpenAI's error shape: sent in process by tests/test_edge_cases.py and over a real socket by tests/test_fuzz.py."""

from __future__ import annotations

import pytest

CHAT, RETRIEVE, DOCUMENTS = "/v1/chat/completions", "/v1/retrieve", "/v1/documents"
_MESSAGES = b'"messages":[{"role":"user","content":"hi"}]'
SURROGATE = "lone surrogate"  # in the message of every lone-surrogate refusal


def _chat(extra: bytes) -> bytes:
    return b'{"model":"rag",' + _MESSAGES + b"," + extra + b"}"


def _message(fields: bytes) -> bytes:
    return b'{"model":"rag","messages":[{"role":"user",' + fields + b"}]}"


def _doc(extra: bytes) -> bytes:
    return b'{"id":"x","text":"y",' + extra + b"}"


# (id, path, raw JSON body, expected `param`, a fragment of the expected message). Raw bytes: `\ud800` (a lone
# surrogate), NaN and Infinity are what a client's JSON can hold and `json=` cannot send.
EDGE_CASES: list[tuple[str, str, bytes, str, str]] = [
    # a key or name ending in a newline: `$` with `re.match` passed it
    ("filter-key-newline", RETRIEVE, b'{"query":"x","filter":{"lang\\n":"en"}}', "filter", "filter keys"),
    ("filter-tenant-newline", RETRIEVE, b'{"query":"x","filter":{"tenant\\n":"x"}}', "filter", "filter keys"),
    ("chat-filter-key-newline", CHAT, _chat(b'"filter":{"lang\\n":"en"}'), "filter", "filter keys"),
    ("retrieve-collection-newline", RETRIEVE, b'{"query":"x","collection":"docs\\n"}', "collection", "collection"),
    ("upload-collection-newline", DOCUMENTS, _doc(b'"collection":"docs\\n"'), "collection", "collection"),
    # integers outside Qdrant's int64
    ("filter-int-2**63", RETRIEVE, b'{"query":"x","filter":{"n":9223372036854775808}}', "filter", "64 bits"),
    ("filter-int-below", RETRIEVE, b'{"query":"x","filter":{"n":-9223372036854775809}}', "filter", "64 bits"),
    ("filter-list-2**63", RETRIEVE, b'{"query":"x","filter":{"n":[1,9223372036854775808]}}', "filter", "64 bits"),
    ("chat-filter-int-2**63", CHAT, _chat(b'"filter":{"n":9223372036854775808}'), "filter", "64 bits"),
    ("metadata-int-2**63", DOCUMENTS, _doc(b'"metadata":{"a":9223372036854775808}'), "metadata.a", "64 bits"),
    # lone surrogates, wherever a client sends text
    ("chat-content", CHAT, _message(b'"content":"\\ud800"'), "messages.0.content", SURROGATE),
    ("chat-part", CHAT, _message(b'"content":[{"type":"text","text":"\\udfff"}]'), "messages.0.content", SURROGATE),
    ("chat-name", CHAT, _message(b'"content":"hi","name":"\\ud800"'), "messages.0.name", SURROGATE),
    ("chat-model", CHAT, b'{"model":"\\ud800",' + _MESSAGES + b"}", "model", SURROGATE),
    ("chat-collection", CHAT, _chat(b'"collection":"\\ud800"'), "collection", SURROGATE),
    ("chat-filter-value", CHAT, _chat(b'"filter":{"lang":"\\ud800"}'), "filter", SURROGATE),
    ("retrieve-query", RETRIEVE, b'{"query":"a \\ud800"}', "query", SURROGATE),
    ("retrieve-collection", RETRIEVE, b'{"query":"x","collection":"\\udc00"}', "collection", SURROGATE),
    ("filter-key", RETRIEVE, b'{"query":"x","filter":{"\\ud800":"en"}}', "filter", SURROGATE),
    ("filter-list-value", RETRIEVE, b'{"query":"x","filter":{"lang":["en","\\ud800"]}}', "filter", SURROGATE),
    ("upload-id", DOCUMENTS, b'{"id":"\\ud800","text":"y"}', "id", SURROGATE),
    ("upload-text", DOCUMENTS, b'{"id":"x","text":"y\\ud800"}', "text", SURROGATE),
    ("upload-title", DOCUMENTS, _doc(b'"title":"\\ud800"'), "title", SURROGATE),
    ("upload-collection", DOCUMENTS, _doc(b'"collection":"\\ud800"'), "collection", SURROGATE),
    ("metadata-value", DOCUMENTS, _doc(b'"metadata":{"a":"\\ud800"}'), "metadata", SURROGATE),
    ("metadata-key", DOCUMENTS, _doc(b'"metadata":{"\\ud800":1}'), "metadata", SURROGATE),
    # NaN and Infinity (Python's JSON parser takes them)
    ("metadata-nan", DOCUMENTS, _doc(b'"metadata":{"a":NaN}'), "metadata.a", "finite"),
    ("metadata-infinity", DOCUMENTS, _doc(b'"metadata":{"a":-Infinity}'), "metadata.a", "finite"),
    ("metadata-overflow", DOCUMENTS, _doc(b'"metadata":{"a":1e999}'), "metadata.a", "finite"),
    ("filter-nan", RETRIEVE, b'{"query":"x","filter":{"a":NaN}}', "filter", "expected a string"),
    ("filter-infinity", RETRIEVE, b'{"query":"x","filter":{"a":Infinity}}', "filter", "expected a string"),
    # whitespace-only text was a no-op success
    ("upload-whitespace-text", DOCUMENTS, b'{"id":"x","text":" \\n\\t "}', "text", "whitespace"),
]
EDGE_CASE_PARAMS = [pytest.param(*case[1:], id=case[0]) for case in EDGE_CASES]


def assert_openai_400(status: int, body: object, param: str, fragment: str) -> None:
    assert status == 400, body
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert error["type"] == "invalid_request_error" and error["code"] == "invalid_request", error
    assert error["param"] == param, error
    assert fragment in error["message"], error
