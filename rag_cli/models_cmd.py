"""`rag models prepare [--json]`: convert the packaged models into RAG_CACHE_DIR once, ahead of use.

The embedding model is exported to ONNX int8 (with the default `onnx-int8` backend) and the dev LLM's GGUF is
converted to safetensors; both normally happen on first use. The container image runs this at build time, so pods
start with everything on a read-only filesystem and need no network.
"""

from __future__ import annotations

import argparse
import json

from rag.components import build_embedder
from rag.llm.model_files import dev_model_dir
from rag.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("models", help="prepare the packaged models in the cache (container builds)")
    actions = p.add_subparsers(dest="action", required=True)
    prepare = actions.add_parser("prepare", help="convert the embedding model and the dev LLM into RAG_CACHE_DIR")
    prepare.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    prepare.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = Settings()
    embedder = build_embedder(settings.embedding)
    dimensions = len(embedder.embed_query("ready"))  # the model end to end: a broken export fails here, not in a pod
    prepared = {
        "cache_dir": str(settings.embedding.cache_dir),
        "embedding": {"backend": settings.embedding.backend, "dimensions": dimensions},
        "dev_llm": str(dev_model_dir(settings.embedding.cache_dir)),
    }
    if args.json:
        print(json.dumps(prepared))
    else:
        print(
            f"models ready in {prepared['cache_dir']}: embedding {settings.embedding.backend} "
            f"({dimensions} dimensions), dev LLM {prepared['dev_llm']}"
        )
    return 0
