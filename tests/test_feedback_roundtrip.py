"""Feedback becomes evaluation, end to end: answers given through the API (in process, the real store and records
database, a scripted chat model; called with the real `openai` client) are rated up, down, and corrected; `rag eval
feedback --export` (the CLI in this process, over the same records database) writes the dataset; `rag eval answers`
and `rag eval gate` (subprocesses: the in-process LLM on one thread, see ONE_THREAD) run it through the real pipeline
and LLM."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openai import OpenAI
from pydantic import SecretStr

from tests.support.app import BASE_URL, app_client, settings_for
from tests.support.cli import run_cli
from tests.support.docs_store import ONE_THREAD
from tests.support.headers import bearer
from tests.support.launcher import rag_env, run_rag
from tests.support.scripted_chat import ANSWER, ScriptedChatModel

KEYS = "reader-key-000001=acme roles=reader subject=alice\nwriter-key-000001=acme roles=writer subject=loader"
DOCS = {
    "deploy.md": "The platform is deployed on Kubernetes with its Helm chart, one release per environment.",
    "keys.md": "API keys live in a Kubernetes Secret that the chart mounts into the API pods.",
    "probes.md": "Readiness and liveness probes call /readyz and /healthz on the API.",
}


@pytest.fixture(scope="module")
def rated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A store whose records hold three rated answers; their completion ids by rating."""
    store = tmp_path_factory.mktemp("roundtrip") / "qdrant"
    settings = settings_for(store, api_keys=SecretStr(KEYS), trace_tenants="acme=30", trace_content=True)
    ids: dict[str, str] = {}
    with app_client(settings, ScriptedChatModel()) as api:
        writer = bearer("writer-key-000001")
        for doc_id, text in DOCS.items():
            assert api.post("/v1/documents", json={"id": doc_id, "text": text}, headers=writer).status_code == 200
        client = OpenAI(base_url=BASE_URL + "/v1", api_key="reader-key-000001", max_retries=0, http_client=api)
        questions = {"up": "how is the platform deployed?", "down": "where do the API keys live?",
                     "corrected": "what do the probes call?"}  # fmt: skip
        for kind, question in questions.items():
            ids[kind] = client.chat.completions.create(model="rag", messages=[{"role": "user", "content": question}]).id
        ratings = {
            "up": {"rating": "up"},
            "down": {"rating": "down", "comment": "that is the deployment, not the keys"},
            "corrected": {"rating": "down", "corrected_answer": "The probes call /readyz and /healthz."},
        }
        reader = bearer("reader-key-000001")
        for kind, body in ratings.items():
            r = api.post("/v1/feedback", json={"completion_id": ids[kind], **body}, headers=reader)
            assert r.status_code == 200 and r.json()["trace"] is True, r.text
    return store, ids


def test_feedback_is_exported_as_a_dataset_that_rag_eval_answers_runs(
    rated: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    store, ids = rated
    env = rag_env(store)
    out = tmp_path / "feedback-set"
    exported = run_cli(["eval", "feedback", "--export", str(out)], env)
    assert exported.returncode == 0, exported.stderr
    assert "3 cases (1 approved, 1 corrected, 1 rejected)" in exported.stdout
    lines = {json.loads(x)["_id"]: json.loads(x) for x in (out / "feedback.jsonl").read_text().splitlines()}
    by_kind = {line["kind"]: line for line in lines.values()}
    assert {k: v["completion_id"] for k, v in by_kind.items()} == {
        "approved": ids["up"], "rejected": ids["down"], "corrected": ids["corrected"]
    }  # fmt: skip
    cases = {json.loads(x)["_id"]: json.loads(x) for x in (out / "answers.jsonl").read_text().splitlines()}
    corpus = [json.loads(x) for x in (out / "corpus.jsonl").read_text().splitlines()]
    texts = {p["_id"]: p["text"] for p in corpus}
    approved = cases[by_kind["approved"]["_id"]]
    assert approved["answerable"] and approved["gold_doc_ids"]  # the passages the approved answer cited
    assert all(texts[g] in DOCS.values() for g in approved["gold_doc_ids"])
    assert approved["answers"] == [" ".join(ANSWER.replace("[1]", " ").replace("[2]", " ").split())]
    rejected = cases[by_kind["rejected"]["_id"]]
    assert rejected["rejected_answers"] == [ANSWER] and rejected["answers"] == []
    corrected = cases[by_kind["corrected"]["_id"]]
    assert corrected["answers"] == ["The probes call /readyz and /healthz."]
    assert set(texts.values()) <= set(DOCS.values())

    since_later = run_cli(["eval", "feedback", "--export", str(tmp_path / "none"), "--since", "2100-01-01"], env)
    assert since_later.returncode == 0 and since_later.stdout.startswith("0 cases")

    one_thread = rag_env(store, OMP_NUM_THREADS=ONE_THREAD)  # the CPU engine's torch: see ONE_THREAD
    answers = run_rag(["eval", "answers", "--dataset", str(out), "--json", "--no-report"], one_thread, timeout=600)
    assert answers.returncode == 0, answers.stderr[-2000:]
    summary = json.loads(answers.stdout)["summary"]
    assert summary["questions"] == 3 and summary["answerable"] == 3
    assert summary["rejected_cases"] == 1
    assert summary["rejected_repeated"] == 0.0  # the real model does not repeat the scripted, rejected answer

    thresholds = tmp_path / "feedback-gate.json"
    check = {"dataset": out.name, "kind": "answers", "min": {"questions": 3}, "max": {"rejected_repeated": 0.0}}
    thresholds.write_text(json.dumps({"checks": [check]}))
    gate_args = ["eval", "gate", "--thresholds", str(thresholds), "--data", str(tmp_path), "--json"]
    gate = run_rag(gate_args, one_thread, timeout=600)
    assert gate.returncode == 0, gate.stderr[-2000:]
    report = json.loads(gate.stdout)
    assert report["passed"] and report["checks"][0]["metrics"]["rejected_repeated"] == 0.0
    thresholds.write_text(json.dumps({"checks": [{**check, "max": {"rejected_repeats": 0}}]}))
    bad = run_cli(["eval", "gate", "--thresholds", str(thresholds), "--data", str(tmp_path)], env)
    assert bad.returncode == 2 and "unknown answers metric 'rejected_repeats'" in bad.stderr
