"""Hugging Face libraries run offline and quiet: every model here comes from a local directory. The one place the
platform sets their environment (the CLI at startup, the model loaders before they import transformers)."""

from __future__ import annotations

import os


def offline() -> None:
    """No hub access at run time; tokenizers without their own thread pool (the embedder batches itself)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def offline_and_quiet() -> None:
    """`offline`, and no progress bars or warnings about long texts (chunking measures them) from transformers."""
    offline()
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
