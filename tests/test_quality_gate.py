"""The CI quality gate: retrieval quality on fixed datasets stays above the checked-in thresholds
(evals/quality_gate.json). The eval collections are cached under RAG_CACHE_DIR, so only a cold cache embeds."""

import json
from pathlib import Path

import pytest

from evals.gate import ThresholdsError, load_checks
from rag_cli.main import main
from tests.support.paths import SHARED_DATA


@pytest.mark.skipif(not (SHARED_DATA / "scifact").is_dir(), reason="../shared/data (SciFact, ClapNQ) is not here")
def test_retrieval_quality_stays_above_the_checked_in_thresholds(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["eval", "gate", "--data", str(SHARED_DATA), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["failures"] == [] and code == 0
    assert len(report["checks"]) == len(load_checks())


def test_the_gate_fails_below_a_threshold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.support.eval_dataset import tiny_dataset

    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("RAG_EMBED_BACKEND", "torch")
    tiny_dataset(tmp_path / "data" / "tiny")
    thresholds = tmp_path / "gate.json"
    thresholds.write_text(json.dumps({"checks": [{"dataset": "tiny", "mode": "dense", "min": {"ndcg@10": 1.01}}]}))
    assert main(["eval", "gate", "--thresholds", str(thresholds), "--data", str(tmp_path / "data")]) == 1
    assert "tiny dense ndcg@10 1.0000 < 1.0100" in capsys.readouterr().err
    assert main(["eval", "gate", "--thresholds", str(thresholds), "--data", str(tmp_path / "nowhere")]) == 2
    assert f"rag eval gate: --data {tmp_path / 'nowhere'}: no such folder" in capsys.readouterr().err


def test_the_gate_finds_its_data_through_the_setting_or_says_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.support.eval_dataset import tiny_dataset

    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("RAG_EMBED_BACKEND", "torch")
    monkeypatch.delenv("RAG_EVAL_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env file
    thresholds = tmp_path / "gate.json"
    thresholds.write_text(json.dumps({"checks": [{"dataset": "tiny", "mode": "sparse", "min": {"mrr@10": 0.9}}]}))
    gate = ["eval", "gate", "--thresholds", str(thresholds)]

    assert main(gate) == 2
    assert capsys.readouterr().err.strip() == (
        "rag eval gate: no evaluation data folder: pass --data DIR or set RAG_EVAL_DATA_DIR"
    )
    monkeypatch.setenv("RAG_EVAL_DATA_DIR", str(tmp_path / "data"))
    assert main(gate) == 2
    assert capsys.readouterr().err.strip() == f"rag eval gate: RAG_EVAL_DATA_DIR {tmp_path / 'data'}: no such folder"
    (tmp_path / "data").mkdir()
    assert main(gate) == 2
    assert capsys.readouterr().err.strip() == f"rag eval gate: datasets not found under {tmp_path / 'data'}: tiny"

    tiny_dataset(tmp_path / "data" / "tiny")
    assert main([*gate, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] and report["failures"] == []
    (check,) = report["checks"]
    assert check["dataset"] == "tiny" and check["mode"] == "sparse" and check["min"] == {"mrr@10": 0.9}
    assert set(check["metrics"]) == {"ndcg@10", "recall@10", "recall@100", "mrr@10"}


def test_a_thresholds_file_with_an_unknown_metric_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    thresholds = tmp_path / "gate.json"
    thresholds.write_text(json.dumps({"checks": [{"dataset": "tiny", "mode": "dense", "min": {"ndcg@20": 0.5}}]}))
    assert main(["eval", "gate", "--thresholds", str(thresholds), "--data", str(tmp_path)]) == 2
    assert f"rag eval gate: {thresholds}: unknown metric 'ndcg@20'" in capsys.readouterr().err
    with pytest.raises(ThresholdsError, match="unknown mode 'fused'"):
        thresholds.write_text(json.dumps({"checks": [{"dataset": "x", "mode": "fused", "min": {}}]}))
        load_checks(thresholds)
