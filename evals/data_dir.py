"""Where the evaluation datasets are: a folder of BEIR folders (`scifact/`, `clapnq/`), named by `--data` or by
`RAG_EVAL_DATA_DIR`. Nothing here guesses a location."""

from __future__ import annotations

from pathlib import Path

from evals.beir import DatasetError
from rag.settings import EvalSettings

ENV = "RAG_EVAL_DATA_DIR"


def resolve_data_dir(given: Path | None, settings: EvalSettings, *, flag: str = "--data") -> Path:
    """`given` (the command's `flag`), else RAG_EVAL_DATA_DIR; `DatasetError` naming which one when it is unset or
    not a folder."""
    if given is not None:
        source, path = flag, given
    elif settings.data_dir is not None:
        source, path = ENV, settings.data_dir
    else:
        raise DatasetError(f"no evaluation data folder: pass {flag} DIR or set {ENV}")
    if not path.is_dir():
        raise DatasetError(f"{source} {path}: no such folder")
    return path


def datasets_in(root: Path) -> list[Path]:
    """The folders directly under `root` that hold a `corpus.jsonl`."""
    return sorted(p.parent for p in root.glob("*/corpus.jsonl"))
