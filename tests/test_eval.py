"""`rag eval retrieval`: a real BEIR-format dataset through the cached eval collection and the API's retriever."""

import json
import shutil
from pathlib import Path

import pytest

from evals.metrics import retrieval_metrics
from rag.embedding.dense import SentenceTransformerEmbedder
from rag.embedding.sparse import Bm25Encoder
from rag.store.base import VectorStore
from rag_cli.main import main

DOCS = {
    "kube": ("Helm on Kubernetes", "Install the platform on a Kubernetes cluster with the Helm chart."),
    "cats": ("Cats", "Cats sleep most of the day and hunt small animals at night."),
    "bread": ("Baking bread", "Knead the dough, let it rise for two hours, then bake it at 230 degrees."),
    "tides": ("Tides", "The moon's gravity pulls the oceans, which causes high and low tides."),
    "violin": ("Violin", "A violin has four strings tuned in fifths and is played with a bow."),
}
QUERIES = {"q1": ("how do I deploy on kubernetes", "kube"), "q2": ("what causes ocean tides", "tides")}


def _dataset(root: Path) -> Path:
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": k, "title": t, "text": x}) + "\n" for k, (t, x) in DOCS.items())
    )
    (root / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": t}) + "\n" for q, (t, _) in QUERIES.items())
    )
    (root / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q, (_, d) in QUERIES.items())
    )
    return root


def test_metrics_are_the_standard_ones() -> None:
    run = {"q": {"other": 2.0, "rel": 1.0}}  # the relevant document second
    got = retrieval_metrics({"q": {"rel": 1}}, run)
    assert got["ndcg@10"] == pytest.approx(0.6309, abs=1e-4) and got["mrr@10"] == pytest.approx(0.5)
    assert got["recall@10"] == 1.0 and retrieval_metrics({"q": {"rel": 1}}, {"q": {"x": 1.0}})["ndcg@10"] == 0.0


def test_eval_retrieval_reports_each_mode_and_caches_the_corpus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("RAG_EMBED_BACKEND", "torch")
    dataset = _dataset(tmp_path / "tiny")
    report = tmp_path / "report"
    args = ["eval", "retrieval", "--dataset", str(dataset), "--mode", "all", "--json", "--report", str(report)]
    assert main(args) == 0
    out, err = capsys.readouterr()
    first = json.loads(out)  # stdout: the one JSON object, the report line on stderr
    assert set(first["modes"]) == {"dense", "sparse", "hybrid"} and first["corpus_chunks_embedded"] == len(DOCS)
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
    assert third["collection"] != first["collection"] and third["corpus_chunks_embedded"] == len(DOCS) + 1


def test_eval_retrieval_rejects_a_directory_that_is_not_a_dataset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", "retrieval", "--dataset", str(tmp_path)]) == 2
    assert "corpus.jsonl is missing" in capsys.readouterr().err


def test_answer_scoring_of_one_question(
    tmp_path: Path, store: VectorStore, embedder: SentenceTransformerEmbedder, sparse: Bm25Encoder
) -> None:
    """The harness's scoring logic on the real retriever and store; the chat model is a scripted fake (the real
    engine is exercised by `rag eval answers` and the API tests)."""
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    from evals.answers_eval import evaluate_question, summarize
    from evals.beir import GoldAnswer
    from evals.groundedness import TokenSupport
    from ingest.chunking import Chunker
    from ingest.loaders import load
    from ingest.sources import SourceFile
    from ingest.sync import Ingestor
    from rag.pipeline import RagPipeline
    from rag.retrieval import Retriever
    from rag.settings import Settings

    corpus = _dataset(tmp_path / "tiny") / "corpus.jsonl"
    chunker = Chunker(embedder.tokenizer, chunk_size=64, chunk_overlap=8)
    Ingestor(store, embedder, sparse, chunker, collection="c", tenant="t").run(load([SourceFile(corpus, corpus.name)]))
    settings = Settings(top_k=2)
    replies = iter(["Install it with the Helm chart [1].", "The documents do not contain the answer."])
    model = GenericFakeChatModel(messages=iter(AIMessage(r) for r in replies))
    pipeline = RagPipeline(Retriever(store, embedder, sparse, prefetch_k=10), model, settings)
    asked = GoldAnswer(
        "q1", "how do I deploy on kubernetes", True, ["kube"], ["Install it with the Helm chart on your cluster."]
    )
    unanswerable = GoldAnswer("q2", "who won the 1954 world cup", False, [], [])
    results = [
        evaluate_question(pipeline, g, collection="c", tenant="t", settings=settings, groundedness=TokenSupport())
        for g in (asked, unanswerable)
    ]

    first, second = results
    assert first.gold_retrieved and first.gold_cited and first.citation_precision == 1.0 and not first.abstained
    assert first.token_f1 is not None and 0.3 < first.token_f1 < 1.0 and first.groundedness == 1.0
    assert second.abstained and second.abstention_correct and second.token_f1 is None
    summary = summarize(results, "token-support")
    assert summary["groundedness_method"] == "token-support"
    assert summary["abstention_accuracy"] == 1.0 and summary["gold_cited"] == 1.0 and summary["questions"] == 2
