"""A small in-memory HTTP server speaking the /v1/jobs contract, for testing the client's own logic.

It is a test double of the *remote* API (the real one is exercised end to end by the integration
tests): a real socket on 127.0.0.1, real multipart parsing, real headers. Jobs move on as they are
polled: a job finishes on its ``polls_to_finish``-th GET. What a job does is chosen by its upload:

    b"FAIL..."     ends failed, error {"code": "corrupt_file", ...}
    b"PARTIAL..."  ends partial_success, 1 of 2 pages failed
    b"%PDF..."     ends succeeded, with as many pages as the PDF has
    anything else  ends succeeded, one page; its text result is the upload decoded as UTF-8

Faults on demand: ``fail_next`` holds HTTP statuses to answer (with Retry-After: 0) before serving
the next requests normally, to exercise retries.
"""

from __future__ import annotations

import io
import json
import threading
import uuid
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pikepdf

TERMINAL = {"succeeded", "partial_success", "failed", "cancelled"}


@dataclass
class DoubleJob:
    job_id: str
    key: str
    files: list[tuple[str, bytes]]
    form: dict[str, str]
    status: str = "queued"
    polls: int = 0
    error: dict[str, str] | None = None

    @property
    def pages_total(self) -> int:
        content = self.files[0][1]
        if content.startswith(b"%PDF"):
            with pikepdf.open(io.BytesIO(content)) as pdf:
                return len(pdf.pages)
        return 2 if content.startswith(b"PARTIAL") else 1

    def view(self) -> dict[str, Any]:
        done = self.pages_total if self.status in ("succeeded", "partial_success") else 0
        failed = 1 if self.status == "partial_success" else 0
        return {
            "job_id": self.job_id,
            "status": self.status,
            "pages_total": self.pages_total,
            "pages_done": done - failed,
            "pages_failed": failed,
            "job_tag": self.form.get("job_tag"),
            "created_at": "2026-01-01T00:00:00Z",
            "error": self.error,
            "filenames": [name for name, _ in self.files],
            "files": [{"index": i, "filename": name, "status": "ready"} for i, (name, _) in enumerate(self.files)],
        }

    def advance(self, polls_to_finish: int) -> None:
        if self.status in TERMINAL or self.status == "cancelling":
            return
        self.polls += 1
        if self.polls < polls_to_finish:
            self.status = "running"
            return
        content = self.files[0][1]
        if content.startswith(b"FAIL"):
            self.status, self.error = "failed", {"code": "corrupt_file", "message": "The file is damaged or truncated."}
        elif content.startswith(b"PARTIAL"):
            self.status = "partial_success"
        else:
            self.status = "succeeded"

    def text(self) -> str:
        return "".join(content.decode("utf-8", "replace") for _, content in self.files)

    def text_of_page(self, number: int) -> str:
        return f"{self.text()[:40]} (page {number})"


@dataclass
class ApiDouble:
    keys: set[str] = field(default_factory=lambda: {"test-key", "admin-key"})
    admin_keys: set[str] = field(default_factory=lambda: {"admin-key"})
    polls_to_finish: int = 1
    retry_after: int | None = 0  # None: no Retry-After header on 202 and on unfinished jobs
    fail_next: list[int | tuple[int, str]] = field(default_factory=list)  # status, or (status, Retry-After)
    # Faults a broken server could have, for checking that the load test notices them:
    honour_tokens: bool = True  # False: every POST makes a new job, token or not
    repeat_first_page: bool = False  # True: JSON results list page 1 twice
    jobs: dict[str, DoubleJob] = field(default_factory=dict)
    tokens: dict[tuple[str, str], str] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> str:
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                double.handle(self, "GET")

            def do_POST(self) -> None:
                double.handle(self, "POST")

            def do_DELETE(self) -> None:
                double.handle(self, "DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- request handling --------------------------------------------------------------------------

    def handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(h.path)
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        with self.lock:
            self.requests.append({"method": method, "path": url.path, "headers": dict(h.headers), "query": url.query})
            if self.fail_next:
                status, wait = _fault(self.fail_next.pop(0))
                return self.send(h, status, {"error": "rate_limited", "message": "slow down"}, {"Retry-After": wait})
            if url.path == "/healthz":
                return self.send(h, 200, {"status": "ok"})
            key = _api_key(h)
            if key not in self.keys:
                return self.send(h, 401, {"error": "unauthorized", "message": "A valid API key is required."})
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            self.route(h, method, url.path, query, body, key)

    def route(self, h, method: str, path: str, query: dict[str, str], body: bytes, key: str) -> None:
        parts = path.strip("/").split("/")
        if method == "POST" and path == "/v1/jobs":
            return self.create(h, body, key)
        if method == "GET" and path == "/v1/jobs":
            return self.list(h, query, key)
        if path == "/v1/keys":
            return self.keys_endpoint(h, method, body, key)
        if len(parts) < 3 or parts[:2] != ["v1", "jobs"]:
            return self.send(h, 404, {"error": "not_found", "message": "No such resource."})
        job = self.jobs.get(parts[2])
        if job is None or job.key != key:
            return self.send(h, 404, {"error": "not_found", "message": "No such resource."})
        rest = "/".join(parts[3:])
        if method == "GET" and rest == "":
            job.advance(self.polls_to_finish)
            headers = {} if job.status in TERMINAL else self._retry_after()
            return self.send(h, 200, job.view(), headers)
        if method == "POST" and rest == "cancel":
            if job.status in TERMINAL:
                return self.send(h, 409, {"error": "conflict", "message": "The job has already ended."})
            job.status = "cancelled"
            return self.send(h, 200, job.view())
        if method == "DELETE" and rest == "":
            del self.jobs[job.job_id]
            return self.send(h, 204, None)
        if method == "GET" and rest.startswith("result"):
            return self.result(h, job, rest, query)
        return self.send(h, 404, {"error": "not_found", "message": "No such resource."})

    def create(self, h, body: bytes, key: str) -> None:
        form, files = _multipart(h.headers["Content-Type"], body)
        if not files:
            return self.send(h, 400, {"error": "invalid_input", "message": "No file was uploaded."})
        token = form.get("client_request_token")
        if token and self.honour_tokens and (key, token) in self.tokens:
            job = self.jobs[self.tokens[(key, token)]]
        else:
            job = DoubleJob(uuid.uuid4().hex, key, files, form)
            self.jobs[job.job_id] = job
            if token:
                self.tokens[(key, token)] = job.job_id
        headers = {"Location": f"/v1/jobs/{job.job_id}", **self._retry_after()}
        return self.send(h, 202, {"job_id": job.job_id, "status": job.status}, headers)

    def keys_endpoint(self, h, method: str, body: bytes, key: str) -> None:
        if key not in self.admin_keys:
            return self.send(h, 403, {"error": "forbidden", "message": "This key may not do that."})
        if method == "GET":
            return self.send(
                h,
                200,
                {"keys": [{"id": n, "name": k, "is_admin": k in self.admin_keys} for n, k in enumerate(sorted(self.keys))]},
            )
        request = json.loads(body)
        new_key = f"ocr_{uuid.uuid4().hex}"
        self.keys.add(new_key)
        if request.get("admin"):
            self.admin_keys.add(new_key)
        view = {
            "id": len(self.keys),
            "name": request["name"],
            "is_admin": bool(request.get("admin")),
            "rate_limit": request.get("rate_limit"),
        }
        return self.send(h, 201, view | {"key": new_key, "webhook_secret": "s3cret"})

    def list(self, h, query: dict[str, str], key: str) -> None:
        jobs = [j for j in self.jobs.values() if j.key == key]
        if "status" in query:
            jobs = [j for j in jobs if j.status == query["status"]]
        if "tag" in query:
            jobs = [j for j in jobs if j.form.get("job_tag") == query["tag"]]
        page, per_page = int(query.get("page", 1)), int(query.get("per_page", 50))
        chunk = jobs[(page - 1) * per_page : page * per_page]
        body = {"jobs": [j.view() for j in chunk], "page": page, "per_page": per_page, "total": len(jobs)}
        return self.send(h, 200, body)

    def result(self, h, job: DoubleJob, rest: str, query: dict[str, str]) -> None:
        if job.status not in ("succeeded", "partial_success"):
            return self.send(h, 409, {"error": "conflict", "message": f"The job is {job.status}."})
        fmt = rest.partition(".")[2] or "json"
        if fmt == "json":
            pages = [
                {"page_number": n, "lines": [{"text": job.text_of_page(n), "confidence": 0.9}]}
                for n in range(1, job.pages_total + 1)
            ]
            if self.repeat_first_page:
                pages.insert(1, pages[0])
            return self.send(h, 200, {"job_id": job.job_id, "pages": pages, "pages_query": query.get("pages")})
        payloads = {
            "txt": (job.text().encode(), "text/plain; charset=utf-8"),
            "hocr": (f"<html><body><div class='ocr_page'>{job.text()}</div></body></html>".encode(), "text/html"),
            "pdf": (b"%PDF-1.7\n" + job.text().encode() + b"\n%%EOF\n", "application/pdf"),
        }
        if fmt not in payloads:
            return self.send(h, 404, {"error": "not_found", "message": "No such format."})
        data, ctype = payloads[fmt]
        h.send_response(200)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _retry_after(self) -> dict[str, str]:
        return {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}

    @staticmethod
    def send(h: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        h.send_response(status)
        if body is not None:
            h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(data)


def _fault(fault: int | tuple[int, str]) -> tuple[int, str]:
    return fault if isinstance(fault, tuple) else (fault, "0")


def _api_key(h: BaseHTTPRequestHandler) -> str | None:
    auth = h.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return auth[len("Bearer ") :]
    return h.headers.get("X-API-Key")


def _multipart(content_type: str, body: bytes) -> tuple[dict[str, str], list[tuple[str, bytes]]]:
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    form: dict[str, str] = {}
    files: list[tuple[str, bytes]] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            if name == "file":
                files.append((part.get_filename(), payload))
        else:
            form[name] = payload.decode()
    return form, files
