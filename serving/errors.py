"""One mapping from failures to OpenAI-shaped error responses: `{"error": {message, type, param, code}}`."""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.errors import (
    BackendUnavailable,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Overloaded,
    QuotaExceeded,
    RagError,
    RateLimited,
    StoreBusy,
    Unauthorized,
)
from serving.protocol import ErrorBody, ErrorResponse

log = logging.getLogger(__name__)

_HTTP_TYPES = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", "forbidden"),
    404: ("invalid_request_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    409: ("invalid_request_error", "conflict"),
    413: ("invalid_request_error", "request_too_large"),
    431: ("invalid_request_error", "request_header_fields_too_large"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
    503: ("service_unavailable_error", "backend_unavailable"),
}


def error_body(status: int, message: str, *, param: str | None = None, code: str | None = None) -> ErrorResponse:
    err_type, default_code = _HTTP_TYPES.get(status, ("server_error", "internal_error"))
    return ErrorResponse(error=ErrorBody(message=message, type=err_type, param=param, code=code or default_code))


def error_response(
    status: int,
    message: str,
    *,
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = error_body(status, message, param=param, code=code)
    return JSONResponse(status_code=status, content=body.model_dump(), headers=headers)


def headers_of(exc: RagError) -> dict[str, str] | None:
    if isinstance(exc, Unauthorized):
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, RateLimited):
        return {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
    return None


def code_of(exc: RagError) -> str | None:
    """A code more precise than the status's default (`rate_limit_exceeded` for 429, ...), where there is one."""
    if isinstance(exc, Overloaded):
        return "engine_overloaded"
    if isinstance(exc, QuotaExceeded):
        return "insufficient_quota"  # OpenAI's code for a spent quota
    return None


def status_of(exc: RagError) -> int:
    if isinstance(exc, InvalidInput):
        return 400
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, BackendUnavailable):
        return 503
    if isinstance(exc, Unauthorized):
        return 401
    if isinstance(exc, Forbidden):
        return 403
    if isinstance(exc, RateLimited):
        return 429
    return 500


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    errors: list[dict[str, Any]] = list(exc.errors())
    if not errors:
        return "invalid request", None
    first = errors[0]
    if first.get("type") == "json_invalid":
        return "the request body is not valid JSON", None
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    param = ".".join(loc) or None
    where = f"'{param}': " if param else ""
    return f"{where}{first.get('msg', 'invalid value')}", param


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RagError)
    async def _rag_error(_: Request, exc: RagError) -> JSONResponse:
        status = status_of(exc)
        if status >= 500:
            # the log may name the process holding a busy store; the caller only hears that it is busy
            logged = exc.detail if isinstance(exc, StoreBusy) else exc.message
            log.warning("request failed: %s", logged, exc_info=exc.__cause__ is not None)
        return error_response(status, exc.message, param=exc.param, code=code_of(exc), headers=headers_of(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = _validation_message(exc)
        return error_response(400, message, param=param)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(500, "internal server error")
