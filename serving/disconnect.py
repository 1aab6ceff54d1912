"""Work that stops when the client leaves: a request's coroutine raced against its `http.disconnect`.

Once a streamed answer has started, Starlette's `StreamingResponse` listens for the disconnect and cancels the
stream. Before that (retrieval, waiting for the first token) and for the whole of a non-streamed answer, nothing
would notice: retrieval and generation would run to the end for nobody, and hold the model meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from starlette.types import Receive

T = TypeVar("T")

CLIENT_CLOSED_REQUEST = 499  # nginx's status for a request whose client left first (logs and metrics only)


class ClientGone(Exception):
    """The client disconnected before the answer was ready; the work was cancelled."""


async def disconnected(receive: Receive) -> None:
    """Returns when the client has left (call it once the request body was read)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def until_disconnect(receive: Receive, work: Awaitable[T]) -> T:
    """`work`'s result, unless the client disconnects first: then `work` is cancelled (and has finished cleaning up)
    and `ClientGone` is raised. Call it after the request body was read: `receive` then returns nothing but
    `http.disconnect`, when the client leaves (a cancelled `receive` consumes nothing, so a `StreamingResponse`
    returned by `work` can listen for the disconnect afterwards)."""
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(disconnected(receive))
    try:
        await asyncio.wait((task, gone), return_when=asyncio.FIRST_COMPLETED)
    except BaseException:  # this request itself was cancelled (the server stopping)
        task.cancel()
        raise
    finally:
        gone.cancel()
    if not task.done():
        task.cancel()
        await asyncio.wait((task,))  # its generators close: the model stops generating
        if task.cancelled():
            raise ClientGone
    return task.result()
