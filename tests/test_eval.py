"""`rag eval retrieval` and `rag eval answers`: a real BEIR-format dataset through the cached eval collection, the
API's retriever and the chat pipeline."""

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from evals.answers_eval import evaluate_answers, sample_questions
from evals.beir import GoldAnswer
from evals.metrics import retrieval_metrics, score_run
from evals.report import write_answers_report
from rag.settings import Settings
from rag_cli.main import main
from tests.support.eval_dataset import CORPUS, tiny_dataset


def test_metrics_are_the_standard_ones() -> None:
    run = {"q": {"other": 2.0, "rel": 1.0}}  # the relevant document second
    got = retrieval_metrics({"q": {"rel": 1}}, run)
    assert got["ndcg@10"] == pytest.approx(0.6309, abs=1e-4) and got["mrr@10"] == pytest.approx(0.5)
    assert got["recall@10"] == 1.0 and retrieval_metrics({"q": {"rel": 1}}, {"q": {"x": 1.0}})["ndcg@10"] == 0.0
    typed = score_run({"q": {"rel": 1}}, run)
    assert typed.mrr_at_10 == pytest.approx(0.5) and typed.by_name() == got and typed.value("recall@10") == 1.0


def test_eval_retrieval_reports_each_mode_and_caches_the_corpus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("RAG_EMBED_BACKEND", "torch")
    dataset = tiny_dataset(tmp_path / "tiny")
    report = tmp_path / "report"
    args = ["eval", "retrieval", "--dataset", str(dataset), "--mode", "all", "--json", "--report", str(report)]
    assert main(args) == 0
    out, err = capsys.readouterr()
    first = json.loads(out)  # stdout: the one JSON object, the report line on stderr
    assert list(first) == ["dataset", "split", "collection", "corpus_chunks_embedded", "modes"]  # the JSON's shape
    assert list(first["modes"]) == ["dense", "sparse", "hybrid"] and first["corpus_chunks_embedded"] == len(CORPUS)
    assert list(first["modes"]["dense"]) == [
        "ndcg@10",
        "recall@10",
        "recall@100",
        "mrr@10",
        "queries",
        "latency_ms_p50",
    ]
    for mode in first["modes"].values():
        assert mode["queries"] == 2 and mode["ndcg@10"] == 1.0 and mode["mrr@10"] == 1.0
    assert f"report: {report / 'report.md'}" in err
    assert json.loads((report / "report.json").read_text()) == first
    assert "| hybrid | 1.0000 | 1.0000 | 1.0000 | 1.0000 | 2 |" in (report / "report.md").read_text()
    assert (report / "retrieval.png").read_bytes().startswith(b"\x89PNG")

    assert main(["eval", "retrieval", "--dataset", str(dataset), "--mode", "dense", "--json", "--no-report"]) == 0
    out, err = capsys.readouterr()
    second = json.loads(out)
    assert "report:" not in err
    assert second["corpus_chunks_embedded"] == 0 and second["collection"] == first["collection"]
    assert {"ndcg@10", "recall@10", "recall@100", "mrr@10"} <= set(second)  # one mode: metrics at the top level

    moved = tmp_path / "elsewhere" / "renamed"  # the same corpus under another folder: the same cached collection
    shutil.copytree(dataset, moved)
    assert main(["eval", "retrieval", "--dataset", str(moved), "--mode", "dense", "--json", "--no-report"]) == 0
    relocated = json.loads(capsys.readouterr().out)
    assert relocated["corpus_chunks_embedded"] == 0 and relocated["collection"] == first["collection"]

    with (dataset / "corpus.jsonl").open("a") as corpus:  # another corpus is another cached collection
        corpus.write(json.dumps({"_id": "new", "title": "", "text": "Something else entirely."}) + "\n")
    monkeypatch.chdir(tmp_path)  # the default report folder is relative to the current directory
    assert main(["eval", "retrieval", "--dataset", str(dataset), "--mode", "sparse", "--json"]) == 0
    third = json.loads(capsys.readouterr().out)
    assert (tmp_path / "reports" / "retrieval-tiny" / "report.md").is_file()
    assert third["collection"] != first["collection"] and third["corpus_chunks_embedded"] == len(CORPUS) + 1


def test_eval_retrieval_rejects_a_directory_that_is_not_a_dataset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", "retrieval", "--dataset", str(tmp_path)]) == 2
    assert "corpus.jsonl is missing" in capsys.readouterr().err


def _answers(root: Path) -> Path:
    """The tiny dataset with an answers.jsonl: one answerable question, one the documents cannot answer."""
    rows = [
        {"_id": "a1", "question": "how do I deploy on kubernetes", "answerable": True, "gold_doc_ids": ["kube"]}
        | {"answers": ["Install it with the Helm chart on your cluster."]},
        {"_id": "u1", "question": "who won the 1954 world cup", "answerable": False, "gold_doc_ids": [], "answers": []},
    ]
    (root / "answers.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def test_questions_are_sampled_answerable_and_unanswerable_in_turn() -> None:
    golds = [GoldAnswer(f"y{i}", "q", True, [], []) for i in range(3)] + [GoldAnswer("n0", "q", False, [], [])]
    assert [g.qid for g in sample_questions(golds, 3)] == ["y0", "n0", "y1"]
    assert [g.qid for g in sample_questions(golds, None)] == ["y0", "y1", "y2", "n0"]


def test_answers_are_scored_through_the_chat_pipeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`evaluate_answers` on the real eval collection, retriever and pipeline; the chat model is a scripted fake (the
    real engine is exercised by `rag eval answers` and the API tests)."""
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("RAG_EMBED_BACKEND", "torch")
    dataset = _answers(tiny_dataset(tmp_path / "tiny"))
    # the second reply only if the pipeline asks the model (it may abstain on its own: RAG_MIN_RELEVANCE)
    replies = iter(["Install it with the Helm chart [1].", "The documents do not contain the answer."])
    model = GenericFakeChatModel(messages=iter(AIMessage(r) for r in replies))
    totals: list[int] = []
    ticks: list[None] = []

    class Ticks:
        def advance(self) -> None:
            ticks.append(None)

    @contextmanager
    def progress(total: int) -> Iterator[Ticks]:
        totals.append(total)
        yield Ticks()

    results = evaluate_answers(dataset, Settings(top_k=2), chat_model=model, progress=progress)

    first, second = results.questions
    assert first.gold_retrieved and first.gold_cited and first.citation_precision == 1.0 and not first.abstained
    assert first.token_f1 is not None and 0.3 < first.token_f1 < 1.0 and first.groundedness == 1.0
    assert second.abstained and second.abstention_correct and second.token_f1 is None
    summary = results.summary
    assert summary.groundedness_method == "token-support" and summary.questions == 2
    assert (
        summary.abstention_accuracy == 1.0
        and summary.gold_cited == 1.0
        and summary.token_f1 == round(first.token_f1, 4)
    )
    assert first.valid_marker and first.removed_markers == 0 and first.sentences == 1
    assert first.answerable_probability is not None and first.sentences_supported == 1 and first.gold_supporting
    assert summary.valid_marker == 1.0 and summary.sentences_supported == 1.0 and summary.gold_supporting == 1.0
    curve = summary.abstention_curve
    assert curve[0]["threshold"] == Settings().retrieval.answerability_min and curve[-1]["threshold"] == 0.95
    assert [r["answered_when_answerable"] for r in curve] == sorted(
        (r["answered_when_answerable"] for r in curve), reverse=True
    )
    assert results.generation.top_k == 2 and results.retrieval.index.embed_backend == "torch"
    assert results.collection.startswith("eval-") and totals == [2] and len(ticks) == 2
    out = results.to_json()  # the shape `rag eval answers --json` prints and report.json holds
    assert list(out) == ["dataset", "summary", "questions"] and out["dataset"] == str(dataset)
    assert out["summary"]["abstention_accuracy"] == 1.0 and list(out["summary"])[:3] == [
        "questions",
        "answerable",
        "unanswerable",
    ]
    assert out["questions"][0]["qid"] == "a1" and set(out["questions"][0]) >= {"token_f1", "rouge_l", "generation_ms"}

    md = write_answers_report(tmp_path / "report", results).read_text()
    assert json.loads((tmp_path / "report" / "report.json").read_text()) == out
    assert "| abstention accuracy | 1.0000 |" in md and "top 2 chunks" in md and results.collection in md


def test_eval_answers_needs_gold_answers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "answers", "--dataset", str(tiny_dataset(tmp_path / "tiny")), "--no-report"]) == 2
    assert "needs corpus.jsonl and answers.jsonl" in capsys.readouterr().err
