"""Issue 30's targets, in one run: documents as people make them (scans, tables, born-digital PDFs).

1. Scanned retrieval: SciFact's test queries' relevant abstracts (283) plus distractors drawn with a fixed seed, 300
   in all, ingested with `rag ingest` (default settings: onnx-int8 embeddings, hybrid retrieval) twice into fresh
   stores: as text (a BEIR corpus.jsonl of the 300) and as scans (one image-only PDF per abstract named `<_id>.pdf`:
   title and abstract typeset and degraded by tests/support/scans.py at 200 dpi, wrapped onto more pages where
   they do not fit on one). The test queries whose relevant documents are all among the 300 run through the repo's
   retrieval path (evals/retrieval_eval.py `evaluate_mode`, in a process with `rag ingest`'s environment); a PDF's
   doc id loses its `.pdf` to be scored. Target: scanned nDCG@10 >= 0.97 x text nDCG@10.
2. OCR throughput on this CPU: every scanned page rendered by PDFium at its scan's 200 dpi (as the PDF loader does)
   and read by the configured engine (`ocr_engine("eng").read`), one page at a time as ingestion reads them; pages
   per second of the reading alone (rendering not timed), seconds for 1,000 pages, and the character error rate on
   every 15th page; beside it, pages per second of the whole scanned `rag ingest` (OCR, chunking, embedding).
3. Table cell accuracy by format: tests/support/tables.py's known tables (merged_table(), known_table(30, 5),
   long_table(200)) written as PDF (`write_pdf`, when it exists), DOCX, HTML, XLSX (a sheet per table, named by its
   caption) and PPTX (a slide per table, titled by its caption), loaded by `ingest.loaders.load`, their Markdown read
   back (`markdown_tables`; a table a PDF continues on the next page, its header repeated, is joined back first) and
   scored with `cell_accuracy` (each known table against its best parsed table). A format's figure is over all its
   tables' slots. Target: >= 0.95 for each format.
4. Born-digital PDFs: the 300 abstracts as text PDFs (fpdf2, DejaVu Sans, one per abstract) ingested by this tree
   (RAG_OCR=auto: OCR only where a page needs it, and none does) and by the code before issue 30 (commit 25ef2f3,
   checked out as a git worktree and run with this venv's Python from there; the module that ran is printed), each
   into a fresh store, interleaved old, new, old, new; the median ratio of new to old `rag ingest` wall time.
   Target: <= 1.1.

    RAG_EVAL_DATA_DIR=../shared/data .venv/bin/python -m benchmarks.documents [--limit N] [--out FILE]

`--limit` takes the first N of the 300 abstracts (a quick check; the figures of record are from the full run).
Prints a table and writes benchmarks/results/documents.json (machine, command, every figure, each target met or not).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from benchmarks.corpus_vectors import ROOT, dataset
from evals.beir import load_qrels, load_queries
from tests.support.launcher import rag_env
from tests.support.scans import FONT_PATHS, cer, clean_page, render_page, write_scan

PYTHON = sys.executable
RAG = str(Path(sys.executable).parent / "rag")
CORPUS_SIZE = 300
SCAN_DPI = 200
SEED = 30
CER_EVERY = 15  # the character error rate on every 15th page (pure-Python edit distance: ~2 s a page)
PRE30 = "25ef2f3"  # the commit before issue 30's work
PRE30_TREE = Path("/tmp/pre30")
RATIO_RUNS = 2  # runs of each code, interleaved
TARGET_SCAN_RATIO = 0.97
TARGET_CELLS = 0.95
TARGET_BORN_DIGITAL = 1.1


# -- the corpus ----------------------------------------------------------------------------------------------------


def selection(folder: Path, size: int) -> tuple[list[dict[str, str]], dict[str, str], dict[str, dict[str, int]]]:
    """The test queries' relevant abstracts plus distractors (seeded) up to `size`, in corpus order; the test queries
    whose relevant documents are all among them, and their qrels."""
    qrels = load_qrels(folder, "test")
    relevant = {doc for judged in qrels.values() for doc in judged}
    rows = [json.loads(line) for line in (folder / "corpus.jsonl").open(encoding="utf-8") if line.strip()]
    others = [str(r["_id"]) for r in rows if str(r["_id"]) not in relevant]
    wanted = set(relevant) | set(random.Random(SEED).sample(others, max(0, size - len(relevant))))
    docs = [
        {"_id": str(r["_id"]), "title": str(r.get("title") or ""), "text": str(r.get("text") or "")}
        for r in rows
        if str(r["_id"]) in wanted
    ]
    kept = {d["_id"] for d in docs}
    qrels = {qid: judged for qid, judged in qrels.items() if set(judged) <= kept}
    queries = load_queries(folder)
    return docs, {qid: queries[qid] for qid in qrels}, qrels


def _fits(words: Sequence[str], title: str) -> bool:
    try:
        clean_page(" ".join(words), SCAN_DPI, title=title)
    except ValueError:
        return False
    return True


def scan_pages(title: str, text: str, seed: int) -> list[tuple[str, Image.Image]]:
    """(reference text, degraded scan) of each page an abstract takes at SCAN_DPI: the title above the first page's
    text, the words that do not fit carried onto the next page (the most that fit, found by bisection)."""
    words = text.split()
    pages: list[tuple[str, Image.Image]] = []
    while True:
        head = title if not pages else ""
        take = len(words)
        if not _fits(words, head):
            low, high = 0, len(words)  # words[:low] fits, words[:high] does not
            while high - low > 1:
                middle = (low + high) // 2
                low, high = (middle, high) if _fits(words[:middle], head) else (low, middle)
            take = low
        if take == 0 and words:
            raise ValueError(f"not a word of {title!r} fits on a page")
        body = " ".join(words[:take])
        reference = f"{head}\n{body}" if head else body
        pages.append((reference, render_page(body, SCAN_DPI, seed=seed + len(pages), title=head)))
        words = words[take:]
        if not words:
            return pages


def write_scans(docs: Sequence[dict[str, str]], folder: Path) -> list[tuple[Path, int, str]]:
    """An image-only PDF per abstract (`<_id>.pdf`); (file, page number, reference text) per page."""
    folder.mkdir(parents=True)
    pages: list[tuple[Path, int, str]] = []
    for n, doc in enumerate(docs):
        scanned = scan_pages(doc["title"], doc["text"], seed=n * 100)
        path = write_scan(folder / f"{doc['_id']}.pdf", [image for _, image in scanned], SCAN_DPI)
        pages += [(path, number, text) for number, (text, _) in enumerate(scanned, start=1)]
    return pages


def write_text_pdfs(docs: Sequence[dict[str, str]], folder: Path) -> None:
    """A born-digital PDF per abstract (`<_id>.pdf`): the title in 14 pt and the abstract in 11 pt DejaVu Sans."""
    from fpdf import FPDF

    font = next((p for p in FONT_PATHS if "Sans" in p.name and p.exists()), None)
    folder.mkdir(parents=True)
    for doc in docs:
        pdf = FPDF(format="letter")
        pdf.set_title(doc["title"])
        pdf.add_page()
        if font is not None:
            pdf.add_font("body", fname=str(font))
            pdf.set_font("body", size=14)
        else:
            pdf.set_font("helvetica", size=14)
        pdf.multi_cell(0, 7, doc["title"], new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
        pdf.set_font_size(11)
        pdf.multi_cell(0, 5.5, doc["text"], new_x="LMARGIN", new_y="NEXT")
        pdf.output(str(folder / f"{doc['_id']}.pdf"))


# -- ingestion and evaluation ----------------------------------------------------------------------------------------


def _run(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[str, float]:
    """Run `cmd` to its end; its stdout and wall seconds. RuntimeError with the end of stderr when it fails."""
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode not in (0, 1):  # 1: some documents failed, reported in the summary
        raise RuntimeError(f"{cmd} exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout, wall


def ingest(
    source: Path, store: Path, *, cwd: Path = ROOT, python_path: str | None = None, **extra: str
) -> dict[str, Any]:
    """`rag ingest SOURCE --json` into a fresh embedded store (this tree's, or the code under `python_path`)."""
    env = rag_env(store, **extra)
    env.pop("PYTHONPATH", None)
    if python_path:
        env["PYTHONPATH"] = python_path
    program = [PYTHON, "-m", "rag_cli.main"] if python_path else [RAG]  # the old code by its module, from its tree
    out, wall = _run([*program, "ingest", str(source), "--json"], env, cwd)
    summary = json.loads(out)
    failed = summary.get("failed") or []
    return {
        "documents": summary["documents_added"],
        "chunks": summary["chunks_upserted"],
        "failed": len(failed),
        "failures": [str(f) for f in failed[:5]],
        "seconds": round(summary["seconds"], 2),
        "wall": round(wall, 2),
    }


def loaded_from(cwd: Path, python_path: str | None) -> str:
    """Which PDF loader module `python` resolves to with this working directory and PYTHONPATH."""
    env = rag_env(Path(tempfile.gettempdir()) / "unused")
    env.pop("PYTHONPATH", None)
    if python_path:
        env["PYTHONPATH"] = python_path
    code = "import ingest.formats.pdf as m, rag_cli.main; print(m.__file__)"
    out, _ = _run([PYTHON, "-c", code], env, cwd)
    return out.strip()


def evaluate(store: Path, queries: dict[str, str], qrels: dict[str, dict[str, int]], work: Path) -> dict[str, Any]:
    """nDCG@10 and the rest of the queries against the store `rag ingest` filled, in a process of its own with the
    same environment (`--worker eval`)."""
    request = work / f"{store.parent.name}-queries.json"
    request.write_text(json.dumps({"queries": queries, "qrels": qrels}))
    out, _ = _run([PYTHON, "-m", "benchmarks.documents", "--worker", str(request)], rag_env(store), ROOT)
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def _worker_eval(request: Path) -> dict[str, Any]:
    """Runs in the child: the queries through evaluate_mode against RAG_QDRANT_PATH's store, doc ids without their
    file suffix."""
    from evals.metrics import score_run
    from evals.retrieval_eval import evaluate_mode
    from rag.components import build_components
    from rag.settings import Settings

    asked = json.loads(request.read_text())
    settings = Settings()
    components = build_components(settings)
    try:
        result = evaluate_mode(
            components,
            collection=settings.store.collection,
            tenant=settings.access.tenant,
            queries=asked["queries"],
            qrels=asked["qrels"],
            mode=settings.retrieval.mode,
        )
    finally:
        components.close()
    run = {
        qid: {doc.removesuffix(".pdf").removesuffix(".txt"): score for doc, score in found.items()}
        for qid, found in result.run.items()
    }
    metrics = score_run(asked["qrels"], run).by_name()
    return {"mode": settings.retrieval.mode, "queries": result.queries, **{k: round(v, 4) for k, v in metrics.items()}}


# -- OCR throughput --------------------------------------------------------------------------------------------------


def ocr_throughput(pages: Sequence[tuple[Path, int, str]]) -> dict[str, Any]:
    """Every page rendered at SCAN_DPI and read one at a time; pages/s of the reading, CER on every CER_EVERY-th."""
    import pypdfium2 as pdfium

    from ingest.ocr.factory import ocr_engine
    from ingest.ocr.render import render_pdf_page

    engine = ocr_engine("eng")
    reading, errors, confidences = 0.0, [], []
    cpu_before = os.times()
    documents: dict[Path, Any] = {}
    for n, (path, number, reference) in enumerate(pages):
        if path not in documents:
            for opened in documents.values():
                opened.close()
            documents = {path: pdfium.PdfDocument(str(path))}
        image = render_pdf_page(documents[path], number, dpi=SCAN_DPI, max_pixels=100_000_000)
        started = time.perf_counter()
        read = engine.read(image, timeout_s=120)
        reading += time.perf_counter() - started
        confidences.append(read.confidence)
        if n % CER_EVERY == 0:
            errors.append(cer(reference, read.text))
    for opened in documents.values():
        opened.close()
    cpu_after = os.times()
    children_cpu = (cpu_after.children_user + cpu_after.children_system) - (
        cpu_before.children_user + cpu_before.children_system
    )
    return {
        "engine": engine.name,
        "pages": len(pages),
        "ocr_seconds": round(reading, 1),
        "pages_per_s": round(len(pages) / reading, 3),
        "seconds_per_1000_pages": round(1000 * reading / len(pages)),
        "cpu_s_per_page": round(children_cpu / len(pages), 3),
        "confidence_mean": round(statistics.mean(confidences), 3),
        "cer_pages": len(errors),
        "cer_mean": round(statistics.mean(errors), 4),
        "cer_max": round(max(errors), 4),
    }


# -- tables ----------------------------------------------------------------------------------------------------------


def write_xlsx(path: Path, tables: Sequence[Any]) -> Path:
    """A workbook with a sheet per table, named by its caption, the table from A1 with merged cells merged."""
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for table in tables:
        sheet = book.create_sheet(title=table.caption[:31])
        for cell in table.cells():
            sheet.cell(row=cell.row + 1, column=cell.col + 1, value=cell.text)
            if (cell.rows, cell.cols) != (1, 1):
                sheet.merge_cells(
                    start_row=cell.row + 1,
                    start_column=cell.col + 1,
                    end_row=cell.row + cell.rows,
                    end_column=cell.col + cell.cols,
                )
    book.save(str(path))
    return path


def write_pptx(path: Path, tables: Sequence[Any]) -> Path:
    """A deck with a slide per table ("Title Only" layout, titled by the caption), merged cells merged."""
    import pptx
    from pptx.util import Inches

    deck = pptx.Presentation()
    for table in tables:
        slide = deck.slides.add_slide(deck.slide_layouts[5])
        slide.shapes.title.text = table.caption
        shape = slide.shapes.add_table(len(table.grid), table.width, Inches(0.5), Inches(1.5), Inches(9), Inches(5))
        drawn = shape.table
        for cell in table.cells():
            corner = drawn.cell(cell.row, cell.col)
            corner.text = cell.text
            if (cell.rows, cell.cols) != (1, 1):
                corner.merge(drawn.cell(cell.row + cell.rows - 1, cell.col + cell.cols - 1))
    deck.save(str(path))
    return path


def joined(parsed: Sequence[Any]) -> list[Any]:
    """The parsed tables with each one that continues the one before it (the same header row) joined onto it."""
    from tests.support.tables import ParsedTable

    out: list[Any] = []
    for table in parsed:
        if out and table.rows and out[-1].rows and table.rows[0] == out[-1].rows[0]:
            out[-1] = ParsedTable(out[-1].caption, out[-1].rows + table.rows[1:])
        else:
            out.append(ParsedTable(table.caption, [list(row) for row in table.rows]))
    return out


def table_accuracy(work: Path) -> dict[str, Any]:
    """Per format: each known table's cell accuracy and caption, and the accuracy over all their slots."""
    from ingest.loaders import load
    from ingest.sources.base import SourceFile
    from rag.domain import Document
    from tests.support import tables as known_tables
    from tests.support.tables import cell_accuracy, known_table, long_table, markdown_tables, merged_table

    tables = [merged_table(), known_table(30, 5, caption="Site measurements", seed=SEED), long_table(200)]
    writers: dict[str, tuple[Callable[[Path], Path], Callable[[int, Any], str]]] = {}
    if hasattr(known_tables, "write_pdf"):
        writers["pdf"] = (lambda p: known_tables.write_pdf(p, tables), known_tables.pdf_caption)
    writers["docx"] = (lambda p: known_tables.write_docx(p, tables), lambda n, t: t.caption)
    writers["html"] = (lambda p: known_tables.write_html(p, tables), lambda n, t: t.caption)
    writers["xlsx"] = (lambda p: write_xlsx(p, tables), lambda n, t: t.caption[:31])
    writers["pptx"] = (lambda p: write_pptx(p, tables), lambda n, t: t.caption)
    results: dict[str, Any] = {}
    folder = work / "tables"
    folder.mkdir()
    for suffix, (write, caption_of) in writers.items():
        path = write(folder / f"tables.{suffix}")
        loaded = list(load([SourceFile(path, path.name)]))
        text = "\n\n".join(d.text for d in loaded if isinstance(d, Document))
        failures = [str(f) for f in loaded if not isinstance(f, Document)]
        parsed = joined(markdown_tables(text))
        per_table, right, slots = [], 0.0, 0
        for n, table in enumerate(tables, 1):
            scored = [(cell_accuracy(table, p), p) for p in parsed]
            best, match = max(scored, key=lambda s: s[0]) if scored else (0.0, None)
            size = len(table.grid) * table.width
            right += best * size
            slots += size
            per_table.append(
                {
                    "table": f"{table.caption} ({len(table.grid)} x {table.width})",
                    "cell_accuracy": round(best, 4),
                    "caption_right": match is not None and match.caption == caption_of(n, table),
                }
            )
        accuracy = right / slots
        results[suffix] = {
            "cell_accuracy": round(accuracy, 4),
            "target_met": accuracy >= TARGET_CELLS,
            "tables_parsed": len(parsed),
            "tables": per_table,
            "failures": failures,
        }
    return results


# -- born-digital PDFs -----------------------------------------------------------------------------------------------


def born_digital(folder: Path, work: Path) -> dict[str, Any]:
    """Old (PRE30 in a worktree) and new ingests of `folder`, interleaved, each into a fresh store."""
    if PRE30_TREE.exists():
        subprocess.run(["git", "worktree", "remove", "--force", str(PRE30_TREE)], cwd=ROOT, check=False)
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(PRE30_TREE), PRE30], cwd=ROOT, check=True, capture_output=True
    )
    try:
        modules = {"old": loaded_from(PRE30_TREE, str(PRE30_TREE)), "new": loaded_from(ROOT, None)}
        if not modules["old"].startswith(str(PRE30_TREE)) or not modules["new"].startswith(str(ROOT)):
            raise RuntimeError(f"the wrong code would run: {modules}")
        runs: dict[str, list[dict[str, Any]]] = {"old": [], "new": []}
        for n in range(RATIO_RUNS):
            for which in ("old", "new"):
                store = work / f"born-{which}-{n}" / "qdrant"
                if which == "old":
                    run = ingest(folder, store, cwd=PRE30_TREE, python_path=str(PRE30_TREE))
                else:
                    run = ingest(folder, store, RAG_OCR="auto")
                runs[which].append(run)
                print(
                    f"  born-digital {which} run {n + 1}: {run['wall']:.1f} s wall, {run['chunks']} chunks", flush=True
                )
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(PRE30_TREE)], cwd=ROOT, check=False)
    ratios = [new["wall"] / old["wall"] for old, new in zip(runs["old"], runs["new"], strict=True)]
    median = statistics.median(ratios)
    return {
        "commit_before": PRE30,
        "modules": modules,
        "runs": runs,
        "ratios_new_over_old": [round(r, 3) for r in ratios],
        "median_ratio": round(median, 3),
        "target_met": median <= TARGET_BORN_DIGITAL,
    }


# -- report ----------------------------------------------------------------------------------------------------------


def _machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo")
    model = ""
    if cpuinfo.exists():
        lines = cpuinfo.read_text().splitlines()
        model = next((line.split(":", 1)[1].strip() for line in lines if "model name" in line), "")
    return {"cpu": model, "cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}


def _print(result: dict[str, Any]) -> None:
    retrieval, ocr, born = result["scanned_retrieval"], result["ocr_throughput"], result["born_digital"]
    text, scans, scan_ingest = retrieval["text"], retrieval["scanned"], retrieval["scanned_ingest"]

    def row(label: str, value: str, target: str = "", met: bool | None = None) -> None:
        verdict = "" if met is None else ("met" if met else "MISSED")
        print(f"{label:60} {value:>15} {target:>10} {verdict:>7}")

    row("figure", "value", "target", None)
    row(f"text store nDCG@10 ({text['queries']} queries)", f"{text['ndcg@10']:.4f}")
    row(f"scanned store nDCG@10 ({retrieval['pages']} pages at {retrieval['dpi']} dpi)", f"{scans['ndcg@10']:.4f}")
    row("scanned / text nDCG@10", f"{retrieval['ratio']:.4f}", f">= {TARGET_SCAN_RATIO}", retrieval["target_met"])
    row("Recall@10, text / scanned", f"{text['recall@10']:.4f} / {scans['recall@10']:.4f}")
    row(f"OCR alone, pages/s ({ocr['engine']}, one page at a time)", f"{ocr['pages_per_s']:.3f}")
    row("OCR alone, seconds for 1,000 pages", f"{ocr['seconds_per_1000_pages']:,}")
    row(
        f"OCR character error rate, mean / max of {ocr['cer_pages']} pages",
        f"{ocr['cer_mean']:.4f} / {ocr['cer_max']:.4f}",
    )
    row("scanned rag ingest end to end, pages/s", f"{scan_ingest['pages_per_s']:.3f}")
    row("scanned rag ingest end to end, seconds for 1,000 pages", f"{1000 / scan_ingest['pages_per_s']:,.0f}")
    for fmt, figures in result["tables"].items():
        worst = min(t["cell_accuracy"] for t in figures["tables"])
        label = f"table cell accuracy, {fmt} (worst of its tables {worst:.4f})"
        row(label, f"{figures['cell_accuracy']:.4f}", f">= {TARGET_CELLS}", figures["target_met"])
    for which, name in (("old", "before issue 30"), ("new", "now")):
        walls = [r["wall"] for r in born["runs"][which]]
        runs = ", ".join(f"{w:.1f}" for w in walls)
        row(f"born-digital rag ingest wall s, {name} ({runs})", f"{statistics.median(walls):.1f}")
    row(
        "born-digital median ratio new / old",
        f"{born['median_ratio']:.3f}",
        f"<= {TARGET_BORN_DIGITAL}",
        born["target_met"],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, help="only the first N of the 300 abstracts (a quick check)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "documents.json")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker_eval(args.worker)))
        return

    folder = dataset("scifact")
    load_before = os.getloadavg()
    started = time.perf_counter()
    docs, queries, qrels = selection(folder, CORPUS_SIZE)
    if args.limit:
        docs = docs[: args.limit]
        kept = {d["_id"] for d in docs}
        qrels = {qid: judged for qid, judged in qrels.items() if set(judged) <= kept}
        queries = {qid: queries[qid] for qid in qrels}
    with tempfile.TemporaryDirectory(prefix="documents-bench-") as tmp:
        work = Path(tmp)
        corpus = work / "text" / "corpus.jsonl"
        corpus.parent.mkdir()
        corpus.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
        print(f"{len(docs)} abstracts, {len(queries)} test queries; rendering scans at {SCAN_DPI} dpi", flush=True)
        pages = write_scans(docs, work / "scans")
        write_text_pdfs(docs, work / "born")

        print("ingesting as text", flush=True)
        text_run = ingest(corpus, work / "text-store" / "qdrant")
        text_metrics = evaluate(work / "text-store" / "qdrant", queries, qrels, work)
        print(f"ingesting {len(pages)} scanned pages", flush=True)
        scan_run = ingest(work / "scans", work / "scan-store" / "qdrant")
        scan_run["pages_per_s"] = round(len(pages) / scan_run["wall"], 3)
        scan_metrics = evaluate(work / "scan-store" / "qdrant", queries, qrels, work)
        ratio = scan_metrics["ndcg@10"] / text_metrics["ndcg@10"] if text_metrics["ndcg@10"] else 0.0
        retrieval = {
            "documents": len(docs),
            "pages": len(pages),
            "dpi": SCAN_DPI,
            "text_ingest": text_run,
            "scanned_ingest": scan_run,
            "text": text_metrics,
            "scanned": scan_metrics,
            "ratio": round(ratio, 4),
            "target": f"scanned nDCG@10 >= {TARGET_SCAN_RATIO} x text nDCG@10",
            "target_met": ratio >= TARGET_SCAN_RATIO,
        }

        print("OCR alone over the scanned pages", flush=True)
        ocr = ocr_throughput(pages)
        print("tables", flush=True)
        tables = table_accuracy(work)
        print("born-digital PDFs, before issue 30 and now", flush=True)
        born = born_digital(work / "born", work)

    result = {
        "machine": {**_machine(), "load_average_before": load_before, "load_average_after": os.getloadavg()},
        "command": "RAG_EVAL_DATA_DIR=../shared/data .venv/bin/python -m benchmarks.documents"
        + (f" --limit {args.limit}" if args.limit else ""),
        "seconds": round(time.perf_counter() - started),
        "settings": "defaults (onnx-int8 embeddings, hybrid retrieval, RAG_OCR=auto)",
        "scanned_retrieval": retrieval,
        "ocr_throughput": ocr,
        "tables": tables,
        "born_digital": born,
        "targets_met": {
            "scanned_retrieval": retrieval["target_met"],
            **{f"table_cells_{fmt}": figures["target_met"] for fmt, figures in tables.items()},
            "born_digital": born["target_met"],
        },
    }
    _print(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
