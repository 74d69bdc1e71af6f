"""Job-finished callbacks, signed with the owning key's webhook secret.

The request is a JSON POST with

    X-OCR-Event: job.finished
    X-OCR-Timestamp: <unix seconds>
    X-OCR-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>

Receivers recompute the HMAC over the raw body and reject old timestamps, so
a captured callback cannot be replayed later. Network errors, 408, 429 and
5xx answers are retried with exponential backoff; other 4xx are final.

The URL is checked again here (core/outbound.py): its host is resolved, every
address must be allowed, and the connection goes to a checked address with
the original name in Host, SNI and certificate checks, so a DNS answer that
changed since the job was submitted cannot point the POST inside the network.
Redirects are never followed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass

import certifi
import urllib3

from core.errors import InvalidOption
from core.outbound import Allowlist, Target, check_target
from db.models import ApiKey, Job
from worker.context import Context

RETRY_STATUSES = {408, 425, 429}


@dataclass
class Delivery:
    status: str  # delivered | retry | failed | skipped
    detail: str = ""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def payload(job: Job) -> dict:
    return {
        "event": "job.finished",
        "job_id": job.id,
        "status": job.status,
        "job_tag": job.job_tag,
        "pages_total": job.pages_total,
        "pages_done": job.pages_done,
        "pages_failed": job.pages_failed,
        "pages_cancelled": job.pages_cancelled,
        "error": {"code": job.error_code, "message": job.error_message} if job.error_code else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "result_url": f"/v1/jobs/{job.id}/result",
    }


def post_to(target: Target, body: bytes, headers: dict, timeout: float) -> int:
    """POST to the target's checked addresses (the next one if a connection fails); the HTTP status."""
    headers = headers | {"Host": target.host_header}
    last_error: Exception | None = None
    for address in target.addresses:
        if target.scheme == "https":
            pool = urllib3.HTTPSConnectionPool(
                address, target.port, server_hostname=target.host, assert_hostname=target.host,
                cert_reqs="CERT_REQUIRED", ca_certs=certifi.where(), maxsize=1, retries=False,
            )  # fmt: skip
        else:
            pool = urllib3.HTTPConnectionPool(address, target.port, maxsize=1, retries=False)
        try:
            # preload_content=False: only the status matters, and a receiver may answer with anything at all.
            answer = pool.urlopen(
                "POST", target.path, body=body, headers=headers, redirect=False, retries=False,
                timeout=urllib3.Timeout(connect=timeout, read=timeout), assert_same_host=False, preload_content=False,
            )  # fmt: skip
            answer.close()
            return answer.status
        except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError) as exc:
            last_error = exc
        finally:
            pool.close()
    raise last_error or OSError("no address to connect to")


def deliver(ctx: Context, job_id: str, *, final_attempt: bool) -> Delivery:
    with ctx.db.session() as s:
        job = s.get(Job, job_id)
        if job is None or not job.callback_url:
            return Delivery("skipped")
        secret = s.get(ApiKey, job.api_key_id).webhook_secret
        url = job.callback_url
        body = json.dumps(payload(job), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        job.webhook_attempts += 1
        job.webhook_status = "pending"

    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "ocr-platform-webhook/1",
        "X-OCR-Event": "job.finished",
        "X-OCR-Job-Id": job_id,
        "X-OCR-Timestamp": str(timestamp),
        "X-OCR-Signature": sign(secret, timestamp, body),
    }
    try:
        target = check_target(url, Allowlist.parse(ctx.settings.webhook_allow))
        status = post_to(target, body, headers, ctx.settings.webhook_timeout)
        retryable = status >= 500 or status in RETRY_STATUSES
        outcome = Delivery("delivered") if 200 <= status < 300 else Delivery("retry" if retryable else "failed", f"HTTP {status}")
    except InvalidOption as exc:
        outcome = Delivery("failed", f"refused: {exc.message}")
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        outcome = Delivery("retry", f"{type(exc).__name__}: {exc}")

    if outcome.status == "retry" and final_attempt:
        outcome = Delivery("failed", outcome.detail + " (no retries left)")
    with ctx.db.session() as s:
        job = s.get(Job, job_id)
        if job is not None:
            job.webhook_status = "pending" if outcome.status == "retry" else outcome.status
            job.webhook_error = outcome.detail or None
    return outcome
