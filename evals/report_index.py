"""The evaluation reports `rag eval` wrote under a folder (`reports/` by default, RAG_REPORTS_DIR), newest first, as
the playground shows them to admins (GET /v1/eval/reports): each report's tables (metrics per retrieval mode, or the
answers' summary) and its plots. Only folders holding a report.json count; only their PNGs are served."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
RETRIEVAL_COLUMNS = ("ndcg@10", "recall@10", "recall@100", "mrr@10", "latency_ms_p50")


@dataclass(frozen=True, slots=True)
class Table:
    caption: str
    columns: list[str]
    rows: list[list[Any]]


@dataclass(frozen=True, slots=True)
class ReportEntry:
    name: str  # the report's folder name
    modified: int  # report.json's modification time (Unix seconds)
    dataset: str
    tables: list[Table]
    images: list[str]  # the PNG files of the folder


def _tables(report: dict[str, Any]) -> list[Table]:
    if isinstance(report.get("modes"), dict):
        rows = [[mode, *(metrics.get(c) for c in RETRIEVAL_COLUMNS)] for mode, metrics in report["modes"].items()]
        return [Table("Retrieval metrics per mode", ["mode", *RETRIEVAL_COLUMNS], rows)]
    summary = report.get("summary")
    if isinstance(summary, dict):
        rows = [[k, v] for k, v in summary.items() if not isinstance(v, dict | list)]
        return [Table("Answer quality", ["metric", "value"], rows)]
    return []


def latest_reports(root: Path, limit: int = 20) -> list[ReportEntry]:
    """The newest `limit` reports under `root` (none when it does not exist); an unreadable one is logged, skipped."""
    if not root.is_dir():
        return []
    found = sorted(
        ((p.stat().st_mtime, p.parent) for p in root.glob("*/report.json") if p.is_file()),
        reverse=True,
    )
    entries = []
    for modified, folder in found[:limit]:
        try:
            report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("report %s skipped: %s", folder, exc)
            continue
        images = sorted(p.name for p in folder.glob("*.png") if p.is_file())
        entries.append(ReportEntry(folder.name, int(modified), str(report.get("dataset", "")), _tables(report), images))
    return entries


def report_image(root: Path, name: str, image: str) -> Path | None:
    """The PNG `image` of report `name`, when both are listed by `latest_reports`' rules (no other path is served)."""
    if not root.is_dir():
        return None
    folders = {p.parent.name: p.parent for p in root.glob("*/report.json") if p.is_file()}
    folder = folders.get(name)
    if folder is None:
        return None
    images = {p.name: p for p in folder.glob("*.png") if p.is_file()}
    return images.get(image)
