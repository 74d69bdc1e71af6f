"""Signed webhooks with retries, the earlier demo's synchronous endpoints, and the operations endpoints."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from tests.integration.documents import char_error_rate, corrupt_pdf, png, text_page

pytestmark = pytest.mark.integration


class CallbackReceiver:
    """An HTTP endpoint on loopback that fails its first ``failures`` calls with 500."""

    def __init__(self, failures: int, host: str = "127.0.0.1"):
        self.calls: list[tuple[dict, bytes]] = []
        self.failures = failures
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append((dict(self.headers), body))
                self.send_response(500 if len(receiver.calls) <= receiver.failures else 204)
                self.end_headers()

        self.server = ThreadingHTTPServer((host, 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://{host}:{self.server.server_address[1]}/hook"

    def wait_calls(self, n: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.calls) < n and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(self.calls) >= n, self.calls


def test_webhook_is_signed_and_retried_with_backoff(alice):
    receiver = CallbackReceiver(failures=1)
    try:
        job_id = alice.submit([(png(text_page(["Call me back"])), "cb.png")], callback_url=receiver.url).json["job_id"]
        assert alice.wait(job_id)["status"] == "succeeded"
        receiver.wait_calls(2)
    finally:
        receiver.server.shutdown()

    secret = alice.get("/v1/keys/me").json["webhook_secret"]
    (first_headers, _), (headers, body) = receiver.calls[:2]
    expected = hmac.new(secret.encode(), headers["X-OCR-Timestamp"].encode() + b"." + body, hashlib.sha256).hexdigest()
    assert headers["X-OCR-Signature"] == f"sha256={expected}"
    assert headers["X-OCR-Event"] == "job.finished"
    payload = json.loads(body)
    assert payload["job_id"] == job_id and payload["status"] == "succeeded" and payload["pages_done"] == 1
    assert first_headers["X-OCR-Signature"].startswith("sha256=")

    deadline = time.monotonic() + 15
    while (job := alice.job(job_id))["webhook"]["status"] != "delivered" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert job["webhook"] == {"status": "delivered", "attempts": 2, "error": None}


def test_api_ocr_answers_synchronously_through_the_queue(alice, client):
    image = text_page(["Sync request 同步"])
    answer = client.post("/api/ocr", headers=alice.headers, data={"image": (io.BytesIO(png(image)), "s.png")})
    assert answer.status_code == 200, answer.json
    body = answer.json
    assert body["success"] is True and body["total_time"] > 0
    assert all(set(line) == {"text", "confidence"} for line in body["text"])
    # It was an ordinary job of this key.
    assert alice.job(body["job_id"])["status"] == "succeeded"


def test_api_ocr_errors_keep_the_old_shape(alice, client):
    no_key = client.post("/api/ocr", data={"image": (io.BytesIO(png(text_page(["x"]))), "s.png")})
    assert no_key.status_code == 401 and no_key.json["success"] is False and no_key.json["error"] == "unauthorized"
    broken = client.post("/api/ocr", headers=alice.headers, data={"image": (io.BytesIO(corrupt_pdf()), "b.pdf")})
    assert broken.status_code == 422
    assert broken.json["success"] is False and broken.json["error"] == "corrupt_file"
    missing = client.post("/api/ocr", headers=alice.headers, data={})
    assert missing.status_code == 400 and missing.json["success"] is False


def test_v1_index_upload_page_and_prediction(alice, client):
    page = client.get("/v1/index")
    assert page.status_code == 200 and page.content_type.startswith("text/html")  # the upload page (api/web.py)
    image = text_page(["Index request"])
    answer = client.post("/v1/index", headers=alice.headers, data={"file": (io.BytesIO(png(image)), "i.png")})
    assert answer.status_code == 200, answer.json
    assert isinstance(answer.json["prediction"], list)
    shown = alice.get(answer.json["image_url"])
    assert shown.status_code == 200 and Image.open(io.BytesIO(shown.data)).size == image.size


@pytest.mark.trained
def test_api_ocr_reads_the_text(alice, client):
    sentence = "Sync request 同步识别"
    answer = client.post("/api/ocr", headers=alice.headers, data={"image": (io.BytesIO(png(text_page([sentence]))), "s.png")})
    read = "".join(line["text"] for line in answer.json["text"])
    assert char_error_rate(sentence, read) <= 0.10, read


def test_health_readiness_and_metrics(client, alice, admin):
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json["checks"] == {"database": "ok", "broker": "ok", "storage": "ok"}

    job_id = alice.submit([(png(text_page(["Counted"])), "m.png")], outputs="json").json["job_id"]
    alice.wait(job_id)
    metrics = admin.get("/metrics").get_data(as_text=True)
    figures = {}
    for line in metrics.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            figures[name] = float(value)
    assert figures['ocr_jobs{status="succeeded"}'] >= 1
    assert figures['ocr_pages{status="done"}'] >= 1
    assert all(f'ocr_queue_depth{{queue="{q}"}}' in figures for q in ("ocr.pages", "ocr.jobs", "ocr.finish"))
    assert figures["ocr_broker_up"] == 1


def test_openapi_document(client):
    doc = client.get("/openapi.json").json
    assert doc["openapi"].startswith("3.")
    assert {"/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/cancel", "/metrics"} <= set(doc["paths"])
