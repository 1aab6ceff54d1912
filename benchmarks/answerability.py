"""The answerability model (rag/evidence/answerability.py): fitted on half the questions, checked on the other half,
with the whole trade-off curve and the threshold chosen for RAG_ANSWERABILITY_MIN.

    .venv/bin/python -m benchmarks.answerability [--keep 0.97] [--write-model]

For every ClapNQ question (150 answerable, 150 unanswerable) and every SciFact test query (all answerable), the
retrieval signals a chat's retrieval computes (`Retriever.retrieve_with_signals`, the default mode and top_k, on the
cached eval collections, the relevance floor off), and for "how do I deploy it?" against this repository's docs/.
A logistic regression (scikit-learn, balanced classes, standardized features) is fitted on the odd-numbered
questions of both datasets; on the even-numbered ones the curve: for each probability threshold, the share of
answerable questions still answered (ClapNQ, SciFact) and of unanswerable ones turned away. The chosen threshold is
the highest that keeps `--keep` of the answerable questions of the fitted half on both datasets and still answers
the docs question. Each feature's AUC alone is reported beside the model's. `--write-model` writes the weights to
rag/evidence/answerability_model.json. Prints a table, writes benchmarks/results/answerability.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from benchmarks.abstention import DOCS_QUESTION, auc
from benchmarks.corpus_vectors import ROOT, dataset
from evals.beir import load_answers, load_qrels, load_queries
from evals.eval_index import TENANT, open_eval_index
from ingest.loaders import SUFFIXES, load
from ingest.sources.local import discover
from ingest.sync import Ingestor
from rag.components import Components, build_components
from rag.evidence.answerability import MODEL_FILE, AnswerabilityModel, RetrievalSignals
from rag.settings import Settings

FEATURES = list(RetrievalSignals.__dataclass_fields__)
# The model's: the margin is reported, not used. Fitted with it, its weight came out negative (SciFact's answerable
# queries have small margins: many near-duplicate abstracts) and the check half's ClapNQ AUC fell from 0.834 to
# 0.811 (a run of this script with MODEL_FEATURES = FEATURES, 2026-11-30).
MODEL_FEATURES = ["dense_top", "sparse_top", "coverage"]
THRESHOLDS = [round(0.01 * i, 2) for i in range(100)]


def signals(components: Components, collection: str, questions: list[str]) -> list[RetrievalSignals]:
    out = []
    for question in questions:
        # as a chat retrieves for a question (its top_k, its mode), but no relevance floor: every question gets its
        # signals
        request = components.requests.retrieval(question, tenant=TENANT, collection=collection, min_relevance=0.0)
        found = components.retriever.retrieve_with_signals(request)
        out.append(found.signals or RetrievalSignals(0.0, 0.0, 0.0, 0.0))
    return out


def dataset_signals(name: str, questions: list[str], settings: Settings) -> list[RetrievalSignals]:
    index = open_eval_index(dataset(name), settings)
    try:
        return signals(index.components, index.collection, questions)
    finally:
        index.components.close()


def docs_signals(settings: Settings) -> RetrievalSignals:
    with tempfile.TemporaryDirectory() as tmp:
        local = settings.updated(qdrant_url=None, qdrant_path=Path(tmp), tenant=TENANT)
        components = build_components(local)
        try:
            Ingestor.for_components(components, collection="docs", tenant=TENANT).run(
                load(discover([ROOT / "docs"], SUFFIXES))
            )
            return signals(components, "docs", [DOCS_QUESTION])[0]
        finally:
            components.close()


def matrix(rows: list[RetrievalSignals]) -> np.ndarray:
    return np.array([[getattr(s, f) for f in FEATURES] for s in rows], dtype=np.float64)


def share(values: np.ndarray, mask: np.ndarray) -> float:
    return round(float(values[mask].mean()), 4) if mask.any() else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", type=float, default=0.97)
    parser.add_argument("--write-model", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "answerability.json")
    args = parser.parse_args()
    settings = Settings()
    golds = load_answers(dataset("clapnq"))
    queries = load_queries(dataset("scifact"))
    scifact_ids = list(load_qrels(dataset("scifact")))
    clapnq = dataset_signals("clapnq", [g.question for g in golds], settings)
    scifact = dataset_signals("scifact", [queries[q] for q in scifact_ids], settings)
    docs = docs_signals(settings)

    everything = np.vstack([matrix(clapnq), matrix(scifact)])
    x = everything[:, [FEATURES.index(f) for f in MODEL_FEATURES]]
    answerable = np.array([g.answerable for g in golds] + [True] * len(scifact))
    source = np.array(["clapnq"] * len(clapnq) + ["scifact"] * len(scifact))
    half = np.array([i % 2 for i in range(len(clapnq))] + [i % 2 for i in range(len(scifact))])
    fit = half == 0  # the 1st, 3rd, ... question of each dataset: the odd-numbered half
    mean, std = x[fit].mean(axis=0), x[fit].std(axis=0) + 1e-9
    model = LogisticRegression(class_weight="balanced", max_iter=1000).fit((x[fit] - mean) / std, answerable[fit])
    weights = model.coef_[0] / std
    bias = float(model.intercept_[0] - (model.coef_[0] * mean / std).sum())
    fitted = AnswerabilityModel(dict(zip(MODEL_FEATURES, map(float, weights), strict=True)), bias)
    p = np.array([fitted.probability(s) for s in [*clapnq, *scifact]])
    p_docs = fitted.probability(docs)

    def point(t: float, part: np.ndarray) -> dict[str, float]:
        kept = p >= t
        return {
            "clapnq_answered": share(kept, part & (source == "clapnq") & answerable),
            "clapnq_turned_away": share(~kept, part & (source == "clapnq") & ~answerable),
            "scifact_answered": share(kept, part & (source == "scifact")),
        }

    curve: list[dict[str, Any]] = [{"threshold": t, "fit": point(t, fit), "check": point(t, ~fit)} for t in THRESHOLDS]
    eligible = [
        c["threshold"]
        for c in curve
        if c["fit"]["clapnq_answered"] >= args.keep
        and c["fit"]["scifact_answered"] >= args.keep
        and p_docs >= c["threshold"]
    ]
    chosen = max(eligible) if eligible else 0.0
    clap = source == "clapnq"
    aucs = {
        name: float(auc(list(everything[clap & answerable, i]), list(everything[clap & ~answerable, i])))
        for i, name in enumerate(FEATURES)
    }
    aucs["model_check_half"] = float(auc(list(p[clap & ~fit & answerable]), list(p[clap & ~fit & ~answerable])))
    at = next(c for c in curve if c["threshold"] == chosen)
    print(f"{'threshold':>9} | fit half: ClapNQ answered / turned away, SciFact answered | check half: the same")
    for c in curve[::5] + ([at] if chosen not in THRESHOLDS[::5] else []):
        f, k = c["fit"], c["check"]
        mark = "  <- chosen" if c["threshold"] == chosen else ""
        print(
            f"{c['threshold']:>9.2f} | {f['clapnq_answered']:.3f} / {f['clapnq_turned_away']:.3f}, "
            f"{f['scifact_answered']:.3f} | {k['clapnq_answered']:.3f} / {k['clapnq_turned_away']:.3f}, "
            f"{k['scifact_answered']:.3f}{mark}"
        )
    print(f"chosen {chosen}: check half {at['check']}; docs question p={p_docs:.3f}")
    print(f"ClapNQ AUC, answerable vs unanswerable: {aucs}")
    result = {
        "features": MODEL_FEATURES,
        "weights": fitted.weights,
        "bias": fitted.bias,
        "keep": args.keep,
        "chosen": chosen,
        "at_chosen": at,
        "docs_question": {"question": DOCS_QUESTION, "probability": round(p_docs, 4)},
        "auc": aucs,
        "curve": curve,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    if args.write_model:
        model_json = {"weights": fitted.weights, "bias": fitted.bias, "fitted_by": "python -m benchmarks.answerability"}
        MODEL_FILE.write_text(json.dumps(model_json, indent=2) + "\n")
        print(f"wrote {MODEL_FILE}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
