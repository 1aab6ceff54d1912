"""The platform's exception tree; the API maps it once to OpenAI-shaped error responses."""


class RagError(Exception):
    """Base class of every error the platform raises on purpose. Messages are safe to show to callers."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class InvalidInput(RagError):
    """The caller sent something the platform cannot use."""


class NotFound(RagError):
    """A named thing (collection, model, document) does not exist."""


class Conflict(RagError):
    """What the caller asked clashes with what is stored (a document id taken in the caller's own namespace by one
    it may not see)."""


class BackendUnavailable(RagError):
    """A dependency (store, embedder, LLM backend) cannot be reached or failed."""


class Unauthorized(RagError):
    """The request carries no credentials, or ones the platform does not accept (unknown key, bad token)."""


class Forbidden(RagError):
    """The caller is known but its roles do not allow what it asked."""


class RateLimited(RagError):
    """The caller's key sent more requests than its rate allows; it may retry after `retry_after_s`. `limit`: the
    limit it hit (requests a minute, or a token quota), for the `x-ratelimit-limit-*` header; None where none is."""

    def __init__(self, message: str, *, retry_after_s: float, limit: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.limit = limit


class QuotaExceeded(RateLimited):
    """The caller's tenant has spent its token quota for the day or month; `retry_after_s` is when it resets."""


class StoreBusy(BackendUnavailable):
    """Another process has the embedded store (or one of its collections) open. `message` stays generic, for API
    callers; `detail` names the holder (pid, command line, since when) and what to do, for whoever runs the CLI."""

    def __init__(self, detail: str, *, message: str = "the store is busy: another process has it open") -> None:
        super().__init__(message)
        self.detail = detail


class Overloaded(RateLimited):
    """The in-process model already has as many generations waiting as it allows (RAG_LOCAL_LLM_MAX_WAITING); the
    caller may retry after `retry_after_s`."""
