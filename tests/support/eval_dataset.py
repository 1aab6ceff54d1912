"""A tiny BEIR dataset (corpus, queries, test qrels) of five one-line documents and two queries, for the evaluation
commands' tests: small enough to embed in a second, real enough for every metric."""

from __future__ import annotations

import json
from pathlib import Path

CORPUS = {
    "kube": ("Helm on Kubernetes", "Install the platform on a Kubernetes cluster with the Helm chart."),
    "cats": ("Cats", "Cats sleep most of the day and hunt small animals at night."),
    "bread": ("Baking bread", "Knead the dough, let it rise for two hours, then bake it at 230 degrees."),
    "tides": ("Tides", "The moon's gravity pulls the oceans, which causes high and low tides."),
    "violin": ("Violin", "A violin has four strings tuned in fifths and is played with a bow."),
}
QUERIES = {"q1": ("how do I deploy on kubernetes", "kube"), "q2": ("what causes ocean tides", "tides")}


def tiny_dataset(root: Path) -> Path:
    """The dataset written under `root` (which must not exist yet); `root`."""
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": k, "title": t, "text": x}) + "\n" for k, (t, x) in CORPUS.items())
    )
    (root / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": t}) + "\n" for q, (t, _) in QUERIES.items())
    )
    (root / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q, (_, d) in QUERIES.items())
    )
    return root
