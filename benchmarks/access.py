"""What per-document access costs a query, and what an access-only change costs against re-ingesting.

    .venv/bin/python -m benchmarks.access [--points 100000] [--groups 1000] [--caller-groups 20] [--queries 300]
                                          [--changed 1000]

Retrieval: SciFact's chunks with their real MiniLM and BM25 vectors, with noisy copies up to `--points`
(benchmarks/corpus_vectors.py), in one tenant of a Qdrant Edge store, each chunk readable by 1 to 3 of `--groups`
groups (a tenth of them tenant-wide), optimized as `rag ingest` leaves it. Each of SciFact's queries runs in every
mode twice, side by side: for the tenant's admin (the tenant filter only) and for a caller in `--caller-groups`
random groups (the access filter: tenant-wide, or its subject, or one of its groups). Reports p50 and p95 of each
and the ratio of the p50s, for the store query alone and for the whole retrieval a chat makes (`Retriever.retrieve`:
embedding the query, the query, and the relevance check at the default RAG_MIN_RELEVANCE).

Access-only change: `--changed` SciFact documents ingested through `Ingestor` with the default embedder; then the
same documents with a new access (one payload update each, nothing embedded), against re-ingesting them changed
(every chunk embedded and written again). Prints a table; writes benchmarks/results/access.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from benchmarks.corpus_vectors import ROOT, CorpusVectors, corpus_vectors, dataset, scaled
from benchmarks.store import load, percentile
from evals.beir import load_queries
from ingest.sync import Ingestor
from rag.access.document_access import DocumentAccess
from rag.access.identity import Principal
from rag.access.namespace import CollectionNamespace
from rag.answering.requests import RequestBuilder
from rag.answering.retrieval import Retriever
from rag.components import build_components, fusion
from rag.domain import Document
from rag.settings import RetrievalMode, Settings
from rag.store.edge import EdgeStore

MODES: tuple[RetrievalMode, ...] = ("dense", "sparse", "hybrid")
TENANT = "acme"


def with_access(cv: CorpusVectors, groups: int, seed: int = 11) -> CorpusVectors:
    rng = random.Random(seed)

    def access() -> DocumentAccess:
        if rng.random() < 0.1:
            return DocumentAccess(tenant_wide=True)
        return DocumentAccess.of(groups=[f"g{rng.randrange(groups)}" for _ in range(rng.randint(1, 3))])

    return replace(cv, chunks=[replace(c, tenant=TENANT, access=access()) for c in cv.chunks])


def query_latencies(args: argparse.Namespace, cv: CorpusVectors) -> list[dict[str, object]]:
    scifact = dataset("scifact")
    texts = list(load_queries(scifact).values())[: args.queries]
    queries = [(cv.embedder.embed_query(t), cv.encoder.encode_query(t)) for t in texts]
    rng = random.Random(5)
    groups = frozenset(f"g{g}" for g in rng.sample(range(args.groups), args.caller_groups))
    caller = Principal(TENANT, "user-1", groups=groups)
    settings = Settings(_env_file=None)
    builder = RequestBuilder(settings)
    # the tenant's operator (sees everything) and a user who sees what its groups give it, as a chat retrieves
    whose: dict[str, tuple[Principal | None, str | None]] = {"tenant": (None, TENANT), "access": (caller, None)}
    readers = {name: builder.reader(principal, tenant=tenant) for name, (principal, tenant) in whose.items()}
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        store = EdgeStore.under(Path(tmp))
        figures = load(store, "c", with_access(scaled(cv, args.points), args.groups))
        print(f"load {args.points} points: {figures}", flush=True)
        names = CollectionNamespace("shared")  # the collection is named as stored
        retriever = Retriever(
            store, cv.embedder, cv.encoder, prefetch_k=50, fusion=fusion(settings.retrieval), namespace=names
        )
        for mode in MODES:
            ms: dict[str, list[float]] = {name: [] for name in readers}
            whole: dict[str, list[float]] = {name: [] for name in readers}
            for text, (dense, sparse) in zip(texts, queries, strict=True):
                for name, reader in readers.items():  # side by side: the same query, one after the other
                    started = time.perf_counter()
                    store.query("c", reader=reader, mode=mode, dense=dense, sparse=sparse, limit=10, prefetch_limit=50)
                    ms[name].append((time.perf_counter() - started) * 1000)
                    principal, tenant = whose[name]
                    request = builder.retrieval(
                        text, principal=principal, tenant=tenant, collection="c", top_k=10, mode=mode
                    )
                    started = time.perf_counter()  # as a chat retrieves: embedding, the query, the relevance check
                    retriever.retrieve(request)
                    whole[name].append((time.perf_counter() - started) * 1000)
            row: dict[str, object] = {"mode": mode, "queries": len(queries)}
            for name, values in ms.items():
                row[f"p50_ms_{name}"] = round(statistics.median(values), 3)
                row[f"p95_ms_{name}"] = round(percentile(values, 0.95), 3)
            row["p50_ratio"] = round(statistics.median(ms["access"]) / statistics.median(ms["tenant"]), 3)
            for name, values in whole.items():
                row[f"p50_ms_retrieve_{name}"] = round(statistics.median(values), 3)
            row["p50_ratio_retrieve"] = round(
                statistics.median(whole["access"]) / statistics.median(whole["tenant"]), 3
            )
            rows.append(row)
            print("  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
        store.close()
    return rows


def access_change(args: argparse.Namespace) -> dict[str, float]:
    with (dataset("scifact") / "corpus.jsonl").open(encoding="utf-8") as lines:
        records = [json.loads(line) for _, line in zip(range(args.changed), lines, strict=False)]
    docs = [Document(r["_id"], r["text"], r.get("title", ""), f"scifact/{r['_id']}") for r in records]
    hr, eng = DocumentAccess.of(groups=["hr"]), DocumentAccess.of(groups=["eng"])
    with tempfile.TemporaryDirectory() as tmp:
        components = build_components(Settings(qdrant_path=Path(tmp), _env_file=None))
        try:

            def timed(batch: list[Document]) -> tuple[float, int]:
                ingestor = Ingestor.for_components(components, collection="c", tenant=TENANT)
                started = time.perf_counter()
                summary = ingestor.run(batch)
                return time.perf_counter() - started, summary.chunks_upserted

            timed([replace(d, access=hr) for d in docs])
            access_s, access_chunks = timed([replace(d, access=eng) for d in docs])
            reingest_s, chunks = timed([replace(d, text=d.text + " (revised)", access=eng) for d in docs])
        finally:
            components.close()
    assert access_chunks == 0
    return {
        "documents": len(docs),
        "chunks": chunks,
        "access_change_s": round(access_s, 3),
        "reingest_s": round(reingest_s, 3),
        "speedup": round(reingest_s / access_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=1_000)
    parser.add_argument("--caller-groups", type=int, default=20)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--changed", type=int, default=1_000, help="documents whose access changes")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "access.json")
    args = parser.parse_args()

    cv = corpus_vectors(dataset("scifact") / "corpus.jsonl")
    rows = query_latencies(args, cv)
    change = access_change(args)
    print(f"\n{'':>7} {'store query':^33} {'retrieve (embed, query, relevance)':^36}")
    header = f"{'tenant p50':>11} {'access p50':>11} {'ratio':>6}"
    print(f"{'mode':>7} {header}   {header}")
    for r in rows:
        print(
            f"{r['mode']:>7} {r['p50_ms_tenant']:>8} ms {r['p50_ms_access']:>8} ms {r['p50_ratio']:>6}   "
            f"{r['p50_ms_retrieve_tenant']:>8} ms {r['p50_ms_retrieve_access']:>8} ms {r['p50_ratio_retrieve']:>6}"
        )
    print(
        f"\naccess-only change of {change['documents']} documents: {change['access_change_s']} s; re-ingesting "
        f"them ({change['chunks']} chunks): {change['reingest_s']} s; {change['speedup']}x"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    machine = {"platform": platform.platform(), "python": platform.python_version()}
    setup = {k: getattr(args, k) for k in ("points", "groups", "caller_groups", "queries", "changed")}
    args.out.write_text(json.dumps({"machine": machine, "setup": setup, "queries": rows, "change": change}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
