"""Exceptions -> HTTP answers ``{"error": code, "message": ...}``. The one place that does it.

No traceback ever reaches a client: unexpected exceptions are logged here and
answered with a plain 500. A database or broker that cannot be reached is an
outage, not a bug: it answers 503 with Retry-After, which clients retry.
"""

from __future__ import annotations

import logging

import redis
import sqlalchemy.exc
from flask import Flask, jsonify
from kombu.exceptions import OperationalError as KombuOperationalError
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge

from core import errors as E

log = logging.getLogger(__name__)

# Most specific first: the first class an error is an instance of decides its status.
_STATUS: list[tuple[type[E.OcrError], int]] = [
    (E.UnsupportedFormat, 415),
    (E.FileTooLarge, 413),
    (E.InputError, 400),
    (E.Unauthorized, 401),
    (E.Forbidden, 403),
    (E.NotFound, 404),
    (E.Conflict, 409),
    (E.RateLimited, 429),
    (E.QuotaExceeded, 429),
    (E.TransientError, 503),
]

_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    415: "unsupported_media_type",
}


OUTAGE_RETRY_AFTER = 5  # seconds; a restarting database or Redis is usually back within this

# Errors of the libraries under us that mean "a dependency is down", not "a bug".
_OUTAGES: list[tuple[tuple[type[BaseException], ...], type[E.TransientError], str]] = [
    (
        (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError, sqlalchemy.exc.TimeoutError),
        E.DatabaseUnavailable,
        "The database is not reachable just now; try again shortly.",
    ),
    (
        (redis.ConnectionError, redis.TimeoutError, KombuOperationalError),
        E.QueueUnavailable,
        "The job queue is not reachable just now; try again shortly.",
    ),
]
OUTAGE_TYPES = tuple(t for types, _cls, _msg in _OUTAGES for t in types)


def as_ocr_error(exc: BaseException) -> E.OcrError | None:
    """``exc`` as one of ours: itself, the outage it stands for, or None for a bug."""
    if isinstance(exc, E.OcrError):
        return exc
    for types, cls, message in _OUTAGES:
        if isinstance(exc, types):
            log.warning("%s: %s", cls.code, exc)
            return cls(message)
    return None


def status_for(err: E.OcrError) -> int:
    for cls, status in _STATUS:
        if isinstance(err, cls):
            return status
    return 500


def error_response(code: str, message: str, status: int, headers: dict | None = None, details: dict | None = None):
    # The contract's two fields come last, so details can never replace them.
    response = jsonify({**(details or {}), "error": code, "message": message})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def ocr_error_response(err: E.OcrError):
    status = status_for(err)
    if status == 500:
        log.error("Unmapped error %s: %s", err.code, err.message)
    headers = {}
    retry_after = getattr(err, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(max(1, int(retry_after)))
    elif status == 503:
        headers["Retry-After"] = str(OUTAGE_RETRY_AFTER)
    return error_response(err.code, err.message, status, headers, err.details)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(E.OcrError)
    def _ocr_error(err: E.OcrError):
        return ocr_error_response(err)

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(_err):
        limit = app.config.get("MAX_CONTENT_LENGTH") or 0
        return error_response(
            E.FileTooLarge.code, f"The upload is larger than the {limit // (1024 * 1024)} MiB allowed per request.", 413
        )

    def _outage(err: Exception):
        return ocr_error_response(as_ocr_error(err))

    for outage in OUTAGE_TYPES:
        app.register_error_handler(outage, _outage)

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        code = _HTTP_CODES.get(err.code or 500, "http_error")
        headers = {}
        if isinstance(err, MethodNotAllowed) and err.valid_methods:
            headers["Allow"] = ", ".join(sorted(err.valid_methods))
        return error_response(code, err.description or err.name, err.code or 500, headers)

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        log.exception("Unhandled error", exc_info=err)
        return error_response("internal_error", "An internal error occurred; it has been logged.", 500)


# --- the compatibility endpoints answer in the earlier demo's shape: {"success": false, ...} ---------
def compat_error_response(code: str, message: str, status: int, **extra):
    response = jsonify({"success": False, "error": code, "message": message, **extra})
    response.status_code = status
    return response


def compat_ocr_error_response(err: E.OcrError):
    status = status_for(err)
    response = compat_error_response(err.code, err.message, status)
    retry_after = getattr(err, "retry_after", None)
    if retry_after is not None:
        response.headers["Retry-After"] = str(max(1, int(retry_after)))
    elif status == 503:
        response.headers["Retry-After"] = str(OUTAGE_RETRY_AFTER)
    return response


def job_failed_response(code: str, message: str, job_id: str):
    """A synchronous request whose job failed: the input could not be read (422)."""
    return compat_error_response(code or "internal_error", message or "The job failed.", 422, job_id=job_id)


def wait_timeout_response(job_id: str, seconds: int):
    """The job goes on; the client can poll it under /v1/jobs/<id>."""
    return compat_error_response(
        "timeout",
        f"The job did not finish within {seconds} s; it is still running as job {job_id}.",
        504,
        job_id=job_id,
    )
