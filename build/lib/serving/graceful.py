"""Graceful shutdown for uvicorn: on SIGTERM readiness goes false at once, the server keeps serving for
RAG_SHUTDOWN_DRAIN_S (so load balancers and Kubernetes endpoints stop sending new requests), then stops accepting
and lets in-flight requests, streams included, finish for up to RAG_SHUTDOWN_TIMEOUT_S (uvicorn's
`timeout_graceful_shutdown`) before it exits. SIGINT (Ctrl-C) skips the drain; a second signal stops at once."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import uvicorn
from fastapi import FastAPI

from serving.lifecycle import lifecycle_of

log = logging.getLogger(__name__)


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: FastAPI, drain_s: float) -> None:
        super().__init__(config)
        self._lifecycle, self._drain_s = lifecycle_of(app), drain_s
        self._timer: threading.Timer | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        first = not self._lifecycle.draining
        self._lifecycle.draining = True  # /readyz answers 503 from now on
        if first and sig == signal.SIGTERM and self._drain_s > 0:
            log.info("SIGTERM: not ready; serving %.1f s more, then finishing in-flight requests", self._drain_s)
            self._timer = threading.Timer(self._drain_s, self._stop_accepting)
            self._timer.daemon = True
            self._timer.start()
            return
        if self._timer is not None:
            self._timer.cancel()
        log.info("shutting down: finishing in-flight requests")
        super().handle_exit(sig, frame)

    def _stop_accepting(self) -> None:
        log.info("drain over: no new connections; finishing in-flight requests")
        self.should_exit = True
