"""An OpenAI-compatible chat server that answers at once: the same SSE stream vLLM sends (role chunk, tokens,
finish, usage when asked, `[DONE]`) with no model behind it. Its time to first token is the HTTP round trip alone,
so the API's own added time stands out from the LLM's (benchmarks/load.py). Not a test double for correctness.

    .venv/bin/python -m benchmarks.instant_llm --port 8011
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

MODEL = "instant"
TOKENS = ["The", " answer", " is", " in", " the", " sources", " [1]", "."]

app = FastAPI()


@app.get("/v1/models")
def models() -> dict[str, Any]:
    return {"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "benchmark"}]}


def _chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
    choices = [{"index": 0, "delta": delta, "finish_reason": finish}] if delta or finish else []
    body = {"id": "chatcmpl-instant", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": MODEL, "choices": choices, **extra}  # fmt: skip
    return f"data: {json.dumps(body)}\n\n"


@app.post("/v1/chat/completions")
async def chat(request: Request) -> StreamingResponse:
    body = await request.json()
    tokens = TOKENS[: max(1, int(body.get("max_tokens") or body.get("max_completion_tokens") or len(TOKENS)))]
    usage = bool((body.get("stream_options") or {}).get("include_usage"))

    def events() -> Iterator[str]:
        yield _chunk({"role": "assistant", "content": ""})
        for token in tokens:
            yield _chunk({"content": token})
        yield _chunk({}, "length" if len(tokens) < len(TOKENS) else "stop")
        if usage:
            yield _chunk(
                {}, usage={"prompt_tokens": 1, "completion_tokens": len(tokens), "total_tokens": 1 + len(tokens)}
            )
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8011)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
