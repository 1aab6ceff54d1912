"""Hugging Face libraries run offline and quiet: every model here comes from a local directory."""

from __future__ import annotations

import os


def offline_and_quiet() -> None:
    """No hub access at run time, no progress bars, no warnings about long texts (chunking measures them)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
