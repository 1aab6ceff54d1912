"""Schemathesis against the app's own OpenAPI document, over real HTTP: no generated input, valid or not, may
get a 5xx. A seeded, bounded run (examples, coverage and fuzzing phases) with a key, as callers send it. The app runs
in this process under uvicorn on loopback (tests/support/app.py: the real store and embedder, a scripted chat model);
the schemathesis command calls it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from tests.support.app import ThreadedServer, settings_for
from tests.support.docs_store import copy_store
from tests.support.edge_cases import EDGE_CASE_PARAMS, assert_openai_400
from tests.support.headers import bearer
from tests.support.scripted_chat import ScriptedChatModel

KEY = "fuzz-key"
SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")


@pytest.fixture(scope="module")
def fuzzed_api(docs_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    settings = settings_for(
        copy_store(docs_store, tmp_path_factory, "api-fuzz"),
        api_keys=SecretStr(f"{KEY}=default"),
        rate_limit_per_minute=0,
        max_tokens=2,
        max_tokens_limit=4,
        stream_keepalive_s=30,
        max_input_chars=2000,
    )
    server = ThreadedServer(settings, ScriptedChatModel()).start()
    yield server
    server.stop()


@pytest.mark.parametrize(("path", "body", "param", "fragment"), EDGE_CASE_PARAMS)
def test_edge_cases_get_a_400_over_http(
    fuzzed_api: ThreadedServer, path: str, body: bytes, param: str, fragment: str
) -> None:
    """The explicit examples (tests/test_edge_cases.py: lone surrogates, NaN, keys ending in a newline, integers
    beyond int64, whitespace-only text) as raw bytes over a real socket, parsed by uvicorn: OpenAPI examples cannot
    hold most of them (the schema is served as JSON, which has no NaN and no lone surrogate)."""
    headers = {**bearer(KEY), "Content-Type": "application/json"}
    r = httpx.post(fuzzed_api.base_url + path, content=body, headers=headers, timeout=60)
    assert_openai_400(r.status_code, r.json(), param, fragment)


def test_no_generated_request_gets_a_server_error(fuzzed_api: ThreadedServer, tmp_path: Path) -> None:
    report, events = tmp_path / "report.json", tmp_path / "events.ndjson"
    cmd = [
        SCHEMATHESIS, "run", fuzzed_api.base_url + "/openapi.json",
        "--checks", "not_a_server_error",
        "--header", f"Authorization: Bearer {KEY}",
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", "15",
        "--seed", "20261127",
        # A generator's own health check, not the API's: DELETE /v1/documents/{doc_id}'s path strings are filtered
        # (no `/`) and now and then too many were, failing the run with no request sent (twice in nine runs here).
        "--suppress-health-check", "filter_too_much",
        "--workers", "1",
        "--request-timeout", "120",
        "--report", "json,ndjson", "--report-json-path", str(report), "--report-ndjson-path", str(events),
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    errors = [line[:2000] for line in events.read_text().splitlines() if "rror" in line] if events.is_file() else []
    assert result.returncode == 0, result.stdout[-4000:] + "\n".join(errors[:5])
    tested = re.search(r"Tested: (\d+)", result.stdout)
    cases = re.search(r"(\d+) generated, (\d+) passed", result.stdout)
    assert tested and int(tested.group(1)) >= 7, result.stdout[-3000:]  # every operation of the schema
    assert cases and int(cases.group(1)) == int(cases.group(2)) > 150, result.stdout[-3000:]
    assert report.is_file() and json.loads(report.read_text())
