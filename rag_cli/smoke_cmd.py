"""`rag smoke [--url URL] [--api-key-file F] [--collection NAME] [--wait-s S]`: a deployed API end to end.

Waits for `/readyz`, stores a small document in a collection of its own (the key's tenant), asks about it with the
official `openai` client and checks the answer is cited from that document, then deletes it. The Helm chart's
`helm test` pod runs it with the first key of the mounted keys file. Exit 0 when every step passed, 1 otherwise,
with one line per step.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import httpx

DOC_ID = "rag-smoke-test"
DOC_TEXT = (
    "This document exists only for the deployment smoke test of the RAG platform. "
    "The smoke test's code word is periwinkle-harbour-42."
)
QUESTION = "What is the smoke test's code word?"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("smoke", help="check a running API end to end (the Helm chart's test)")
    p.add_argument("--url", default=os.environ.get("RAG_SMOKE_URL", "http://127.0.0.1:8000"), help="the API's URL")
    p.add_argument("--api-key-file", type=Path, help="a keys file (KEY=TENANT lines): its first key is used")
    p.add_argument("--collection", default="rag-smoke-test", help="the collection the test document goes to")
    p.add_argument("--wait-s", type=float, default=300.0, help="how long to wait for readiness")
    p.set_defaults(run=run)


def _wait_ready(http: httpx.Client, url: str, wait_s: float) -> str:
    deadline, last = time.monotonic() + wait_s, "no answer"
    while True:
        try:
            response = http.get(url + "/readyz")
            if response.status_code == 200:
                return "ready"
            last = f"HTTP {response.status_code}: {response.text[:200]}"
        except httpx.HTTPError as exc:
            last = f"{type(exc).__name__}: {exc}"
        if time.monotonic() > deadline:
            raise RuntimeError(f"not ready after {wait_s:.0f} s ({last})")
        time.sleep(2)


def run(args: argparse.Namespace) -> int:
    from openai import OpenAI  # the client library loads for this command only

    from serving.auth import read_key_file

    url = args.url.rstrip("/")
    key = next(iter(read_key_file(args.api_key_file)), None) if args.api_key_file else None
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    client = OpenAI(base_url=url + "/v1", api_key=key or "none", max_retries=2, timeout=300)
    stored = {"id": DOC_ID}  # as the API stored it: under the key's own namespace unless the key is an admin's
    with httpx.Client(timeout=300, headers=headers) as http:

        def store() -> str:
            body = {"id": DOC_ID, "text": DOC_TEXT, "title": "Smoke test", "collection": args.collection}
            response = http.post(url + "/v1/documents", json=body)
            response.raise_for_status()
            stored["id"] = response.json()["id"]
            return f"{response.json()['status']} as {stored['id']}, {response.json()['chunks']} chunk(s)"

        def ask() -> str:
            answer = client.chat.completions.create(
                model="rag",
                messages=[{"role": "user", "content": QUESTION}],
                max_tokens=48,
                extra_body={"collection": args.collection},
            )
            cited = [c["doc_id"] for c in (answer.model_extra or {}).get("citations", [])]
            if stored["id"] not in cited:
                raise RuntimeError(f"the answer cites {cited}, not the test document")
            return f"cited {stored['id']}: {(answer.choices[0].message.content or '').strip()[:80]!r}"

        def delete() -> str:
            path = f"/v1/documents/{quote(stored['id'])}"  # an id may hold `%`, `#` or `?`
            response = http.delete(url + path, params={"collection": args.collection})
            response.raise_for_status()
            return f"{response.json()['chunks_deleted']} chunk(s) deleted"

        steps: list[tuple[str, Callable[[], str]]] = [
            ("ready", lambda: _wait_ready(http, url, args.wait_s)),
            ("store", store),
            ("ask", ask),
            ("delete", delete),
        ]
        for name, step in steps:
            try:
                print(f"{name}: ok, {step()}", flush=True)
            except Exception as exc:
                print(f"{name}: FAILED, {type(exc).__name__}: {exc}", flush=True)
                if name in ("store", "ask"):
                    with contextlib.suppress(Exception):
                        delete()  # leave nothing behind
                return 1
    return 0
