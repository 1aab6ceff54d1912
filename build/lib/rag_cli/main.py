"""`rag` with its subcommands. Exit codes: 0 success, 1 partial failure or runtime error, 2 usage error, 3 the
embedded store is in use by another process (the message names it)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from rag.errors import RagError, StoreBusy
from rag.hf_runtime import offline
from rag_cli import (
    ask_cmd,
    copy_cmd,
    db_cmd,
    delete_cmd,
    eval_cmd,
    ingest_cmd,
    models_cmd,
    serve_cmd,
    smoke_cmd,
    status_cmd,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag", description="Grounded, cited chat over your documents.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail to stderr")
    sub = parser.add_subparsers(dest="command", required=True)
    commands = (ingest_cmd, ask_cmd, serve_cmd, status_cmd, delete_cmd, copy_cmd, eval_cmd, models_cmd, smoke_cmd)
    for module in (*commands, db_cmd):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    offline()
    args = _parser().parse_args(argv)
    # Our own loggers speak at INFO; libraries only when something is wrong (onnxruntime's quantizer alone logs
    # dozens of INFO lines through the root logger while the embedding model is prepared on a first run).
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        for ours in ("rag", "ingest", "serving", "evals", "rag_cli", "benchmarks"):
            logging.getLogger(ours).setLevel(logging.INFO)
    for noisy in ("httpx", "httpx2", "sentence_transformers", "transformers"):  # httpx2: the openai client's transport
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        code: int = args.run(args)
    except StoreBusy as exc:  # the operator's version: which process holds the store, and what to do
        print(f"rag {args.command}: {exc.detail}", file=sys.stderr)
        return 3
    except RagError as exc:
        print(f"rag {args.command}: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
