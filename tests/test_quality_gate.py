"""The CI quality gate: retrieval quality on fixed datasets stays above the checked-in thresholds
(evals/quality_gate.json). The eval collections are cached under RAG_CACHE_DIR, so only a cold cache embeds."""

import json
from pathlib import Path

import pytest

from evals.gate import load_checks
from rag_cli.main import main
from tests.conftest import SHARED_DATA


@pytest.mark.skipif(not (SHARED_DATA / "scifact").is_dir(), reason="../shared/data (SciFact, ClapNQ) is not here")
def test_retrieval_quality_stays_above_the_checked_in_thresholds(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["eval", "gate", "--data", str(SHARED_DATA), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["failures"] == [] and code == 0
    assert len(report["checks"]) == len(load_checks())


def test_the_gate_fails_below_a_threshold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.test_eval import _dataset

    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("RAG_EMBED_BACKEND", "torch")
    _dataset(tmp_path / "data" / "tiny")
    thresholds = tmp_path / "gate.json"
    thresholds.write_text(json.dumps({"checks": [{"dataset": "tiny", "mode": "dense", "min": {"ndcg@10": 1.01}}]}))
    assert main(["eval", "gate", "--thresholds", str(thresholds), "--data", str(tmp_path / "data")]) == 1
    assert "tiny dense ndcg@10 1.0000 < 1.0100" in capsys.readouterr().err
    assert main(["eval", "gate", "--thresholds", str(thresholds), "--data", str(tmp_path / "nowhere")]) == 2
