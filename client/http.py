"""A small HTTP client for the OCR platform's API (/v1/jobs ...), shared by ocrctl and the load test.

It owns the wire details: authentication, the JSON error shape ``{"error": code, "message"}``,
retries of idempotent requests on 429/502/503/504 and dropped connections (waiting as long as
``Retry-After`` asks), and polling a job until it ends. One instance may be used from many
threads: each thread gets its own connection pool.
"""

from __future__ import annotations

import email.utils
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests

from core.errors import OcrError, TransientError
from core.formats import EXTENSIONS, result_path

TERMINAL_STATUSES = frozenset({"succeeded", "partial_success", "failed", "cancelled"})
RESULT_PATHS = {ext: result_path(ext) for ext in EXTENSIONS}
# Answers that mean "try again later" rather than "you asked for something wrong".
RETRY_STATUSES = frozenset({429, 502, 503, 504})


class ApiError(OcrError):
    """The API answered with an error, or could not be reached."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "api_error",
        status: int | None = None,
        retry_after: float | None = None,
        retryable: bool = False,
    ):
        super().__init__(message)
        self.code = code
        self.status = status
        self.retry_after = retry_after
        self.retryable = retryable

    def __str__(self) -> str:
        where = f"HTTP {self.status}, " if self.status else ""
        return f"{self.args[0]} ({where}{self.code})"


class WaitTimeout(TransientError):
    """The job did not finish within the time we were willing to wait."""

    code = "wait_timeout"


@dataclass(frozen=True)
class JobView:
    """One answer about a job: its JSON body and the server's hint for when to ask again."""

    body: dict[str, Any]
    retry_after: float | None = None

    @property
    def job_id(self) -> str:
        return str(self.body.get("job_id") or self.body.get("id") or "")

    @property
    def status(self) -> str:
        return str(self.body.get("status", ""))

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _error_from(resp: requests.Response) -> ApiError:
    code, message = f"http_{resp.status_code}", resp.reason or "error"
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        # The contract is {"error": code, "message": ...}; tolerate {"error": {"code", "message"}} too.
        if isinstance(error, dict):
            code, message = error.get("code", code), error.get("message", message)
        elif error:
            code, message = str(error), str(body.get("message", message))
    return ApiError(
        message,
        code=code,
        status=resp.status_code,
        retry_after=parse_retry_after(resp.headers.get("Retry-After")),
        retryable=resp.status_code in RETRY_STATUSES,
    )


class OcrClient:
    """Talks to one OCR API server with one API key."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 120.0,
        max_retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        max_retry_after: float = 300.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self._sleep = sleep
        self._local = threading.local()

    # --- plumbing --------------------------------------------------------------------------------

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = "ocrctl/0.1"
            if self.api_key:
                session.headers["Authorization"] = f"Bearer {self.api_key}"
            self._local.session = session
        return session

    def _delay(self, attempt: int, hint: float | None) -> float:
        # The server's Retry-After wins over our own exponential guess.
        return hint if hint is not None else min(self.max_backoff, self.backoff * (2**attempt))

    def request(self, method: str, path: str, *, retry: bool = True, **kwargs: Any) -> requests.Response:
        """Send one request; retry it (if ``retry``) while the server says "later" or the connection drops."""
        url = self.base_url + path
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries or not retry
            try:
                resp = self._session().request(method, url, timeout=self.timeout, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if last:
                    raise ApiError(f"cannot reach {self.base_url}: {exc}", code="unreachable", retryable=True) from exc
                self._sleep(self._delay(attempt, None))
                continue
            if resp.status_code < 400:
                return resp
            error = _error_from(resp)
            # A server asking for a very long pause (a spent quota) is answered now, not slept on.
            if not error.retryable or last or (error.retry_after or 0) > self.max_retry_after:
                raise error
            self._sleep(self._delay(attempt, error.retry_after))
        raise AssertionError("unreachable")  # the loop always returns or raises

    def _json(self, method: str, path: str, **kwargs: Any) -> tuple[dict[str, Any], float | None]:
        resp = self.request(method, path, **kwargs)
        try:
            body = resp.json()
        except ValueError as exc:
            raise ApiError(f"{method} {path} answered something that is not JSON", code="bad_response") from exc
        return body, parse_retry_after(resp.headers.get("Retry-After"))

    # --- jobs ------------------------------------------------------------------------------------

    def submit(
        self,
        files: Sequence[tuple[str, bytes]],
        *,
        lang: str | None = None,
        pages: str | None = None,
        detect_orientation: bool | None = None,
        outputs: Sequence[str] | None = None,
        client_request_token: str | None = None,
        job_tag: str | None = None,
        callback_url: str | None = None,
        pdf_text: str | None = None,
    ) -> JobView:
        """POST /v1/jobs with one or more (file name, bytes). Options left as None use the server's defaults.

        With a client_request_token the request is idempotent (the server answers the same job), so it
        is retried on transient failures; without one it is sent exactly once.
        """
        options = {
            "lang": lang,
            "pages": pages,
            "detect_orientation": None if detect_orientation is None else str(detect_orientation).lower(),
            "outputs": ",".join(outputs) if outputs else None,
            "client_request_token": client_request_token,
            "job_tag": job_tag,
            "callback_url": callback_url,
            "pdf_text": pdf_text,
        }
        data = {k: v for k, v in options.items() if v is not None}
        multipart = [("file", (name, content)) for name, content in files]
        body, retry_after = self._json("POST", "/v1/jobs", data=data, files=multipart, retry=client_request_token is not None)
        return JobView(body, retry_after)

    def job(self, job_id: str) -> JobView:
        body, retry_after = self._json("GET", f"/v1/jobs/{job_id}")
        return JobView(body, retry_after)

    def wait(
        self,
        job_id: str,
        *,
        first_delay: float | None = None,
        poll_min: float = 0.5,
        poll_max: float = 5.0,
        timeout: float | None = None,
        on_update: Callable[[JobView], None] | None = None,
    ) -> JobView:
        """Poll GET /v1/jobs/<id> until the job ends. Waits grow from poll_min by half each time up to
        poll_max, and never undercut the server's Retry-After."""
        deadline = None if timeout is None else time.monotonic() + timeout
        backoff = poll_min
        delay = first_delay if first_delay is not None else poll_min
        while True:
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WaitTimeout(f"job {job_id} did not finish within {timeout:g} s")
                delay = min(delay, remaining)
            self._sleep(delay)
            view = self.job(job_id)
            if on_update is not None:
                on_update(view)
            if view.terminal:
                return view
            backoff = min(poll_max, backoff * 1.5)
            delay = max(backoff, view.retry_after or 0.0)

    def result(self, job_id: str, fmt: str = "json", *, pages: str | None = None) -> bytes:
        """The job's result as bytes: json (the pipeline's schema), txt, hocr or pdf (searchable)."""
        if fmt not in RESULT_PATHS:
            raise ValueError(f"unknown result format {fmt!r}; one of {', '.join(RESULT_PATHS)}")
        params = {"pages": pages} if pages else None
        return self.request("GET", f"/v1/jobs/{job_id}{RESULT_PATHS[fmt]}", params=params).content

    def cancel(self, job_id: str) -> JobView:
        body, retry_after = self._json("POST", f"/v1/jobs/{job_id}/cancel")
        return JobView(body, retry_after)

    def delete(self, job_id: str) -> None:
        self.request("DELETE", f"/v1/jobs/{job_id}")

    def list_jobs(
        self, *, status: str | None = None, tag: str | None = None, page: int = 1, per_page: int = 50
    ) -> dict[str, Any]:
        params = {"status": status, "tag": tag, "page": page, "per_page": per_page}
        body, _ = self._json("GET", "/v1/jobs", params={k: v for k, v in params.items() if v is not None})
        return body

    def iter_jobs(self, *, status: str | None = None, tag: str | None = None, per_page: int = 100) -> Iterator[dict[str, Any]]:
        """Every job the key can see, page after page."""
        page, seen = 1, 0
        while True:
            body = self.list_jobs(status=status, tag=tag, page=page, per_page=per_page)
            jobs = body.get("jobs", [])
            yield from jobs
            seen += len(jobs)
            # The server may cap per_page; its own figures say whether there is more.
            if not jobs or seen >= body.get("total", seen + 1) or len(jobs) < body.get("per_page", per_page):
                return
            page += 1

    # --- keys (admin keys only) --------------------------------------------------------------------

    def create_key(
        self, name: str, *, admin: bool = False, rate_limit: str | None = None, quota_pages: int | None = None
    ) -> dict[str, Any]:
        """POST /v1/keys; the answer holds the new plain key, shown this once. Sent once: not idempotent."""
        payload = {"name": name, "admin": admin, "rate_limit": rate_limit, "quota_pages": quota_pages}
        body, _ = self._json("POST", "/v1/keys", json={k: v for k, v in payload.items() if v is not None}, retry=False)
        return body

    def list_keys(self) -> list[dict[str, Any]]:
        body, _ = self._json("GET", "/v1/keys")
        return body.get("keys", [])

    def health(self) -> dict[str, Any]:
        body, _ = self._json("GET", "/healthz", retry=False)
        return body
