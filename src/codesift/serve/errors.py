"""Every error the service returns, and the one place that maps them to HTTP.

Library layers raise `ServeError` subclasses that say what went wrong; `to_response` turns any exception into a
status code, headers and an OpenAI-style body `{"error": {"message", "type", "code"}}`, so clients of
/v1/embeddings get the error shape they already parse.
"""

from __future__ import annotations

import json
import math

from pydantic import ValidationError
from starlette.responses import Response

from codesift.log import get_logger

log = get_logger("codesift.serve")


class ServeError(Exception):
    status = 500
    type = "server_error"

    def __init__(self, message: str, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message, self.code, self.headers = message, code or self.type, headers or {}


class InvalidInput(ServeError):  # well-formed JSON that breaks a rule: wrong type, empty text, too long an item
    status, type = 422, "invalid_request_error"


class BadRequest(ServeError):  # not JSON at all
    status, type = 400, "invalid_request_error"


class TooLarge(ServeError):  # body bytes or items per request over the limit
    status, type = 413, "request_too_large"


class Unauthorized(ServeError):
    status, type = 401, "authentication_error"

    def __init__(self, message: str):
        super().__init__(message, headers={"WWW-Authenticate": 'Bearer realm="codesift"'})


class Forbidden(ServeError):
    status, type = 403, "permission_error"


class NotFound(ServeError):
    status, type = 404, "not_found_error"


class Overloaded(ServeError):
    """The queue is full: come back after `retry_after` seconds (an estimate from the recent drain rate)."""

    status, type = 429, "rate_limit_error"

    def __init__(self, message: str, retry_after: float):
        super().__init__(message, code="queue_full", headers={"Retry-After": str(max(1, math.ceil(retry_after)))})


class Unavailable(ServeError):  # warming up, no index loaded yet, or shutting down
    status, type = 503, "unavailable"

    def __init__(self, message: str, code: str = "unavailable", retry_after: float | None = None):
        headers = {"Retry-After": str(max(1, math.ceil(retry_after)))} if retry_after is not None else None
        super().__init__(message, code=code, headers=headers)


class InferenceFailed(ServeError):
    status, type = 500, "inference_error"


def describe_validation(error: ValidationError) -> str:
    """One line per problem: `input.3: Input should be a valid string`."""
    parts = []
    for e in error.errors():
        where = ".".join(str(x) for x in e["loc"]) or "body"
        parts.append(f"{where}: {e['msg']}")
    return "; ".join(parts)


def to_response(exc: BaseException) -> Response:
    """The HTTP form of any exception; unexpected ones are logged with their traceback and reported as 500."""
    if isinstance(exc, ValidationError):
        exc = InvalidInput(describe_validation(exc), code="invalid_value")
    if not isinstance(exc, ServeError):
        log.exception("unexpected error", exc_info=exc)
        exc = ServeError(f"internal error: {type(exc).__name__}", code="internal_error")
    body = json.dumps({"error": {"message": exc.message, "type": exc.type, "code": exc.code}}).encode()
    return Response(body, status_code=exc.status, headers=exc.headers, media_type="application/json")
