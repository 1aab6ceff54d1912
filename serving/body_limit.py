"""ASGI middleware refusing request bodies over a size limit with 413, whether declared or streamed, in OpenAI's error
shape (`{"error": {..., "code": "request_too_large"}}`) on every path.

FastAPI's own limit (`FastAPI(max_body_size=...)`, per route too, over Starlette's `RequestBodyLimitMiddleware`,
FastAPI 0.165 / Starlette 1.10) does not keep that shape: a body whose declared Content-Length is over the limit
is answered by Starlette itself with a plain-text `413 Content Too Large`, which replaces whatever response the app
starts, its exception handlers' JSON error included; only a chunked body over the limit reaches those handlers. So
the limit stays here: one check of the declared length before the app runs, one count of the bytes as they come."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.errors import error_body


class BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """`max_bytes` per request body, but for the paths `larger` names (an upload of files) their own limit."""

    def __init__(self, app: ASGIApp, max_bytes: int, larger: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = larger or {}

    async def _reject(self, send: Send, limit: int) -> None:
        body = error_body(413, f"the request body exceeds {limit} bytes").model_dump()
        payload = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger.get(scope.get("path", ""), self.max_bytes)
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await self._reject(send, limit)
                return
        received = 0
        too_large = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise BodyTooLarge
            return message

        replaced = False

        async def guarded_send(message: Message) -> None:
            # The app may turn the aborted read into an error response of its own: answer 413 instead.
            nonlocal replaced
            if too_large:
                if not replaced:
                    replaced = True
                    await self._reject(send, limit)
                return
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLarge:
            if not replaced:
                await self._reject(send, limit)
