"""Exceptions -> the ``{code, message}`` recorded on a page, file or job. The one place that does it.

Messages are for the people who sent the file: they say what is wrong with
it, never a traceback. Unexpected exceptions are logged in full here and
recorded as ``internal_error``.
"""

from __future__ import annotations

import logging

from billiard.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from sqlalchemy.exc import InterfaceError as DbInterfaceError
from sqlalchemy.exc import OperationalError as DbOperationalError

from core.errors import OcrError, PageTimeout, ResourceExhausted, TransientError

log = logging.getLogger(__name__)


def as_ocr_error(exc: BaseException) -> OcrError | None:
    """The project error an exception stands for, or None for an unexpected one."""
    if isinstance(exc, OcrError):
        return exc
    if isinstance(exc, SoftTimeLimitExceeded | TimeLimitExceeded):
        return PageTimeout("The page took longer than the time limit allows.")
    if isinstance(exc, MemoryError):
        return ResourceExhausted("The worker ran out of memory on this page.")
    if isinstance(exc, DbOperationalError | DbInterfaceError):
        return TransientError("The database could not be reached.")
    return None


def is_retryable(exc: BaseException) -> bool:
    err = as_ocr_error(exc)
    return err is not None and err.retryable


def error_record(exc: BaseException, *, context: str = "") -> dict:
    err = as_ocr_error(exc)
    if err is None:
        log.exception("Unexpected error%s", f" ({context})" if context else "", exc_info=exc)
        return {"code": "internal_error", "message": "An internal error stopped the processing of this page."}
    return {"code": err.code, "message": err.message}


def attempts_exhausted(attempts: int, limit: int) -> dict:
    return {
        "code": "page_attempts_exhausted",
        "message": f"The page was tried {attempts - 1} times (the limit is {limit}) and each attempt stopped "
        "its worker; it is not tried again.",
    }


def file_errors(rejected: list[dict] | None, failed: list[tuple[int, str, str, str]]) -> list[dict]:
    """The errors of a job's unusable files, in request order: those refused at upload
    (Job.rejected_files) and those found unusable later, given as (position, filename, code, message)."""
    rows = [(r["index"], r["filename"], r["code"], r["message"]) for r in rejected or []] + failed
    return [{"code": code, "message": f"{name}: {message}"} for _, name, code, message in sorted(rows)]


def job_error_from(errors: list[dict]) -> dict:
    """A failed job's error: the first cause, plus how many others there were."""
    if not errors:
        return {"code": "internal_error", "message": "The job produced no pages."}
    first = errors[0]
    if len(errors) == 1:
        return first
    return {"code": first["code"], "message": f"{first['message']} ({len(errors) - 1} more error(s); see files and pages)"}
