"""`rag serve [--host --port]`: the OpenAI-compatible API under uvicorn."""

from __future__ import annotations

import argparse

from rag.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="serve the OpenAI-compatible chat API")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from serving.app import create_app  # FastAPI and the serving stack load only for this command

    app = create_app(Settings())
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0
