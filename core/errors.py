"""The project's one exception hierarchy.

Every error has a stable machine-readable ``code`` and a ``retryable`` flag.
They are translated to HTTP answers in ``api/errors.py`` and to job/page
errors in ``worker/failures.py``, and nowhere else.
"""

from __future__ import annotations


class OcrError(Exception):
    code = "internal_error"
    retryable = False
    # Extra fields for the HTTP answer beside "error" and "message", e.g. the per-file errors of a
    # refused upload ({"rejected": [...]}); set on the instance that has them.
    details: dict | None = None

    def __init__(self, message: str | None = None):
        super().__init__(message or self.__class__.__doc__ or self.code)

    @property
    def message(self) -> str:
        return str(self)


# --- bad input: the caller must change something; never retried ---------------
class InputError(OcrError):
    """The input could not be used."""

    code = "invalid_input"


class UnsupportedFormat(InputError):
    """The file is neither a supported image nor a PDF."""

    code = "unsupported_format"


class CorruptFile(InputError):
    """The file is damaged or truncated."""

    code = "corrupt_file"


class EncryptedPdf(InputError):
    """The PDF is password-protected."""

    code = "encrypted_pdf"


class EmptyFile(InputError):
    """The file is empty or has no pages."""

    code = "empty_file"


class ImageTooLarge(InputError):
    """The image is larger than the allowed size."""

    code = "image_too_large"


class FileTooLarge(InputError):
    """The upload is larger than the allowed size."""

    code = "file_too_large"


class TooManyPages(InputError):
    """The document has more pages than allowed."""

    code = "too_many_pages"


class InvalidPageRange(InputError):
    """The page range is malformed or outside the document."""

    code = "invalid_page_range"


class InvalidOption(InputError):
    """An option has a value that is not allowed."""

    code = "invalid_option"


class InvalidCharacters(InputError):
    """A text field holds a NUL byte, a control character or bytes that are not UTF-8."""

    code = "invalid_characters"


# --- models -------------------------------------------------------------------
class ModelError(OcrError):
    """A model file is missing, corrupt or does not match its card."""

    code = "model_error"


# --- transient: worth another attempt -----------------------------------------
class TransientError(OcrError):
    """A temporary failure; the work can be tried again."""

    code = "transient_error"
    retryable = True


class ResourceExhausted(TransientError):
    """Out of memory or another resource; the work can be tried again."""

    code = "resource_exhausted"


class StorageUnavailable(TransientError):
    """The object store or disk could not be reached."""

    code = "storage_unavailable"


class QueueUnavailable(TransientError):
    """The job queue (broker) could not be reached."""

    code = "queue_unavailable"


class DatabaseUnavailable(TransientError):
    """The database could not be reached."""

    code = "database_unavailable"


# --- platform -----------------------------------------------------------------
class NotFound(OcrError):
    """No such resource."""

    code = "not_found"


class Unauthorized(OcrError):
    """A valid API key is required."""

    code = "unauthorized"


class Forbidden(OcrError):
    """This key may not do that."""

    code = "forbidden"


class RateLimited(OcrError):
    """Too many requests; slow down."""

    code = "rate_limited"
    retryable = True

    def __init__(self, message: str | None = None, retry_after: int | None = None):
        super().__init__(message)
        self.retry_after = retry_after  # seconds until the caller may try again


class ServerBusy(RateLimited):
    """The server is answering as many waiting requests as it can; try again shortly."""

    code = "server_busy"


class QuotaExceeded(OcrError):
    """The key's quota is used up."""

    code = "quota_exceeded"


class Conflict(OcrError):
    """The resource is not in a state that allows this."""

    code = "conflict"


class OutputNotRequested(Conflict):
    """The job did not ask for this output, and it cannot be made afterwards."""

    code = "output_not_requested"


class JobCancelled(OcrError):
    """The job was cancelled."""

    code = "cancelled"


class PageFailedTooOften(OcrError):
    """The page failed on every allowed attempt (it may crash workers)."""

    code = "page_attempts_exhausted"


class PageTimeout(OcrError):
    """The page took longer than its time limit."""

    code = "page_timeout"
