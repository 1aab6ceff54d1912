"""A bound on each request's head (its request line and headers) in the HTTP parser, before anything holds the head
whole: RAG_MAX_HEADER_BYTES (docs/api.md).

`rag serve` runs uvicorn on httptools, its fast parser, which has no limit of its own: a 32 MB `Authorization`
header was parsed (httptools grows a header value by concatenation, a copy per read), handed to the app whole, and
cost seconds of the one event loop (python -m benchmarks.header_flood, docs/performance.md). Here the bytes a
connection sends before its headers complete are counted as they arrive; past the limit the server answers 431
(OpenAI error shape) and closes the connection. A head is over the limit by at most one read (256 KiB) when
refused. h11, uvicorn's other parser, gets the same limit through its own option (`h11_max_incomplete_event_size`,
answered with 400).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from serving.errors import error_body

log = logging.getLogger("rag.serve")


def refusal(max_bytes: int) -> bytes:
    """The whole 431 response, as bytes on the wire."""
    message = f"the request line and headers exceed {max_bytes} bytes (RAG_MAX_HEADER_BYTES)"
    body = json.dumps(error_body(431, message).model_dump()).encode()
    head = (
        "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


def bounded_httptools(max_bytes: int) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol, refusing a head of more than `max_bytes` bytes (pass as `uvicorn.Config.http`)."""
    response = refusal(max_bytes)

    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._head_bytes = 0  # received since the last message ended (or the connection opened)
            self._in_head = True
            self._refused = False

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return
            if self._in_head:
                self._head_bytes += len(data)
            super().data_received(data)  # parser callbacks below may end the head within this read
            if self._in_head and self._head_bytes > max_bytes and not self._refused:
                self._refused = True
                client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
                log.warning("request head over %d bytes from %s: refused with 431", max_bytes, client)
                self.transport.write(response)
                self.transport.close()

        def on_headers_complete(self) -> None:
            self._in_head, self._head_bytes = False, 0
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._in_head, self._head_bytes = True, 0  # what comes next is the next request's head

    return BoundedHttpToolsProtocol
