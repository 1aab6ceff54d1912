"""evals/report.py: report folders built from hand-made results (no model, no store)."""

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from evals.report import default_report_dir, write_answers_report, write_retrieval_report
from rag.settings import Settings
from tests.support.eval_results import answers_results, question_result, retrieval_results

NOW = datetime(2025, 3, 4, 5, 6, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n"


def test_retrieval_report(tmp_path: Path) -> None:
    settings = Settings(fusion="dbsf", chunk_size=200, chunk_overlap=30, embed_backend="onnx-int8")
    results = retrieval_results(settings)
    md_path = write_retrieval_report(tmp_path / "out", results, now=NOW)

    assert md_path == tmp_path / "out" / "report.md"
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert saved == results.to_json()
    assert saved == {  # the JSON users and CI read, spelled out
        "dataset": "../shared/data/scifact",
        "split": "test",
        "collection": "eval-0123abcd",
        "corpus_chunks_embedded": 0,
        "modes": {
            "dense": {"ndcg@10": 0.6638, "recall@10": 0.7912, "recall@100": 0.9367, "mrr@10": 0.6281}
            | {"queries": 300, "latency_ms_p50": 12.34},
            "sparse": {"ndcg@10": 0.6846, "recall@10": 0.8108, "recall@100": 0.9223, "mrr@10": 0.6512}
            | {"queries": 300, "latency_ms_p50": 12.34},
            "hybrid": {"ndcg@10": 0.7320, "recall@10": 0.8589, "recall@100": 0.9733, "mrr@10": 0.6977}
            | {"queries": 300, "latency_ms_p50": 12.34},
        },
    }
    md = md_path.read_text()
    assert "| hybrid | 0.7320 | 0.8589 | 0.9733 | 0.6977 | 300 | 12.3 |" in md
    assert "| dense | 0.6638 | 0.7912 | 0.9367 | 0.6281 |" in md
    for fact in ("scifact", "test", "eval-0123abcd", "2025-03-04 05:06 UTC", "dbsf", "200 / 30", "onnx-int8"):
        assert fact in md
    assert "](retrieval.png)" in md
    png = (tmp_path / "out" / "retrieval.png").read_bytes()
    assert png.startswith(PNG) and len(png) > 10_000


def test_one_mode_has_its_metrics_at_the_top_level_too(tmp_path: Path) -> None:
    settings = Settings(fusion="rrf", rrf_k=10, fusion_dense_weight=1.5)
    results = retrieval_results(settings)
    one = replace(results, modes=results.modes[2:])
    assert one.to_json()["ndcg@10"] == 0.7320 and list(one.to_json()["modes"]) == ["hybrid"]
    md = write_retrieval_report(tmp_path, one, now=NOW).read_text()
    assert "rrf (k 10, weights 1.5/1.0), prefetch 50" in md and "| hybrid | 0.7320 |" in md


def test_answers_report(tmp_path: Path) -> None:
    settings = Settings(llm_model="qwen-7b", llm_base_url="http://gpu:8000/v1", temperature=0.3)
    results = answers_results(settings)
    md_path = write_answers_report(tmp_path, results, now=NOW)

    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved == results.to_json() and list(saved) == ["dataset", "summary", "questions"]
    assert saved["summary"]["token_f1"] == 0.4583 and saved["questions"][0] == {
        "qid": "a0",
        "answerable": True,
        "answer": "answer number 0 [1]",
        "gold_retrieved": True,
        "gold_cited": True,
        "citation_precision": 1.0,
        "token_f1": 0.0,
        "rouge_l": 0.0,
        "abstained": False,
        "abstention_correct": True,
        "groundedness": 0.8,
        "retrieval_ms": 10.0,
        "first_token_ms": 100.0,
        "generation_ms": 900.0,
        "valid_marker": False,
        "removed_markers": 0,
        "sentences": 0,
        "sentences_supported": 0,
        "gold_supporting": None,
        "answerable_probability": None,
        "abstention_reason": None,
        "repeated_rejected": None,
    }
    md = md_path.read_text()
    assert "| token F1 | 0.4583 |" in md and "| abstention accuracy | 0.9286 |" in md
    assert "| questions | 14 |" in md and "| citation precision (checked markers) | n/a |" in md  # nothing cited
    assert "## Abstention by answerability threshold\n\nNo answerability probabilities" in md  # none in these
    assert "| retrieval ms (p50) | 10.0 |" in md and "| **max tokens, temperature** | 256, 0.3 |" in md
    assert "qwen-7b" in md and "http://gpu:8000/v1" in md and "eval-feed" in md and "clapnq" in md
    worst = md.split("## Worst 10 answerable questions by token F1")[1].split("## Unanswerable")[0]
    assert "| a0 | 0.0000 |" in worst and "| a9 |" in worst and "| a10 |" not in worst and "| a11 |" not in worst
    unanswered = md.split("## Unanswerable questions answered instead of abstaining (1)")[1]
    assert "u-answered" in unanswered and "u-declined" not in unanswered
    row = next(line for line in unanswered.splitlines() if "u-answered" in line)
    assert "A \\| piped multiline x" in row and "x" * 201 not in row and "…" in row  # one cell, 200 characters
    assert "](answers.png)" in md
    png = (tmp_path / "answers.png").read_bytes()
    assert png.startswith(PNG) and len(png) > 10_000


def test_answers_report_with_nothing_to_list(tmp_path: Path) -> None:
    results = answers_results(Settings(), [question_result("u", False, "No.", None, True)])
    md = write_answers_report(tmp_path, results).read_text()
    assert "None scored." in md and "every unanswerable question was declined" in md
    assert (tmp_path / "answers.png").read_bytes().startswith(PNG)


def test_default_report_dir() -> None:
    assert default_report_dir("retrieval", Path("../shared/data/scifact/")) == Path("reports/retrieval-scifact")
    assert default_report_dir("answers", Path("x/clapnq")) == Path("reports/answers-clapnq")
