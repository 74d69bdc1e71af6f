"""Job-finished callbacks, signed with the owning key's webhook secret.

The request is a JSON POST with

    X-OCR-Event: job.finished
    X-OCR-Timestamp: <unix seconds>
    X-OCR-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>

Receivers recompute the HMAC over the raw body and reject old timestamps, so
a captured callback cannot be replayed later. Network errors, 408, 429 and
5xx answers are retried with exponential backoff; other 4xx are final.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass

import requests

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
        answer = requests.post(url, data=body, headers=headers, timeout=ctx.settings.webhook_timeout, allow_redirects=False)
        retryable = answer.status_code >= 500 or answer.status_code in RETRY_STATUSES
        outcome = (
            Delivery("delivered")
            if 200 <= answer.status_code < 300
            else Delivery("retry" if retryable else "failed", f"HTTP {answer.status_code}")
        )
    except requests.RequestException as exc:
        outcome = Delivery("retry", f"{type(exc).__name__}: {exc}")

    if outcome.status == "retry" and final_attempt:
        outcome = Delivery("failed", outcome.detail + " (no retries left)")
    with ctx.db.session() as s:
        job = s.get(Job, job_id)
        if job is not None:
            job.webhook_status = "pending" if outcome.status == "retry" else outcome.status
            job.webhook_error = outcome.detail or None
    return outcome
