"""What a hostile or unlucky caller meets: callbacks into the network, odd bytes, deletes racing submits,
outages of the database and the broker, a flood of synchronous requests, and the operators' endpoints."""

from __future__ import annotations

import dataclasses
import io
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from PIL import Image
from sqlalchemy import update
from sqlalchemy.engine import make_url
from werkzeug.serving import make_server

from core.settings import REPO_ROOT
from db.models import Job
from tests.integration.documents import png, text_page
from tests.integration.tcp_proxy import TcpProxy
from tests.integration.test_webhook_compat_ops import CallbackReceiver

pytestmark = pytest.mark.integration


def tiny_png(seed: int) -> bytes:
    """A small blank page, different for each seed: quick to read, and its own upload."""
    image = Image.new("RGB", (48, 48), "white")
    image.putpixel((seed % 48, (seed // 48) % 48), (seed % 251, 0, 0))
    return png(image)


def stored_inputs(platform) -> set[str]:
    return {p.name for p in platform.storage_files("inputs")}


def job_count(admin) -> int:
    return admin.get("/v1/jobs?all=true&per_page=1").json["total"]


@pytest.fixture
def nothing_stored(platform, admin):
    """Asserts that the test added no job and no upload."""
    jobs, inputs = job_count(admin), stored_inputs(platform)
    yield
    assert job_count(admin) == jobs
    assert stored_inputs(platform) == inputs


# --- callbacks never reach inside the network -----------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.2/hook",  # loopback, but not the one address the test platform allows
        "http://[::1]/hook",
        "http://0x7f000002/hook",
        "http://2130706434/hook",
        "http://0177.0.0.2/hook",
        "http://[::ffff:127.0.0.2]/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/hook",
        "http://user:secret@example.com/hook",
        "http://example.com/\x01hook",
        "file:///etc/passwd",
    ],
)
def test_callbacks_to_inside_addresses_are_refused_at_submit(alice, url, nothing_stored):
    answer = alice.submit([(tiny_png(1), "p.png")], callback_url=url)
    assert answer.status_code == 400, answer.json
    assert answer.json["error"] in ("invalid_option", "invalid_characters")


def test_a_callback_whose_address_changed_after_submit_is_not_sent(alice, app):
    """As if the callback host's DNS answer changed to an inside address after the job was accepted:
    the worker checks again before it connects, and sends nothing."""
    allowed, inside = CallbackReceiver(failures=0), CallbackReceiver(failures=0, host="127.0.0.2")
    try:
        page = png(text_page(["Rebound"], marker="slow"))
        answer = alice.submit([(page, "r.png")], callback_url=allowed.url, outputs="json")
        assert answer.status_code == 202, answer.json
        job_id = answer.json["job_id"]
        with app.extensions["ocr"].db.session() as s:
            s.execute(update(Job).where(Job.id == job_id).values(callback_url=inside.url))
        alice.wait(job_id)
        job = alice.wait_for(job_id, lambda j: j["webhook"] and j["webhook"]["status"] in ("delivered", "failed"), 60)
    finally:
        allowed.server.shutdown()
        inside.server.shutdown()
    assert job["webhook"]["status"] == "failed" and "127.0.0.2" in job["webhook"]["error"], job["webhook"]
    assert inside.calls == [] and allowed.calls == []


# --- a delete racing a submit of the same bytes ---------------------------------------------------
def test_deleting_a_job_never_removes_the_upload_of_a_job_submitted_meanwhile(alice, platform):
    """40 times: a job is deleted while another job with the same upload is submitted. Every job
    that was accepted keeps its upload and is read; none fails not_found."""
    pairs = 40
    tag = f"race-{uuid.uuid4().hex[:8]}"
    uploads = [tiny_png(1000 + n) for n in range(pairs)]
    victims = []
    for n, upload in enumerate(uploads):
        answer = alice.submit([(upload, f"v{n}.png")], outputs="json", job_tag=tag)
        assert answer.status_code == 202, answer.json
        victims.append(answer.json["job_id"])

    def race(n: int) -> str:
        start = threading.Barrier(2)

        def delete():
            start.wait()
            return alice.delete(f"/v1/jobs/{victims[n]}").status_code

        def resubmit():
            start.wait()
            return alice.submit([(uploads[n], f"k{n}.png")], outputs="json", job_tag=tag)

        with ThreadPoolExecutor(2) as both:
            deleted, submitted = both.submit(delete), both.submit(resubmit)
            assert deleted.result() == 204
            answer = submitted.result()
        assert answer.status_code == 202, answer.json
        return answer.json["job_id"]

    with ThreadPoolExecutor(8) as pool:
        keepers = list(pool.map(race, range(pairs)))

    jobs = [alice.wait(job_id) for job_id in keepers]
    lost = [(j["job_id"], j["error"], j["files"][0]["error"]) for j in jobs if j["status"] != "succeeded"]
    assert lost == []
    assert {j["files"][0]["sha256"] for j in jobs} <= stored_inputs(platform)
    for job_id in keepers:
        assert alice.delete(f"/v1/jobs/{job_id}").status_code == 204
    assert not {j["files"][0]["sha256"] for j in jobs} & stored_inputs(platform)


# --- odd bytes: 400 at the door, nothing stored ---------------------------------------------------
def _multipart(tag: bytes, filename: bytes, content: bytes) -> tuple[bytes, str]:
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="job_tag"\r\n\r\n' + tag + b"\r\n"
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="' + filename + b'"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n" + content + b"\r\n--XyZ--\r\n"
    )
    return body, "multipart/form-data; boundary=XyZ"


def test_nul_bytes_and_invalid_utf8_answer_400_and_store_nothing(alice, admin, client, nothing_stored):
    page = tiny_png(2)
    answers = {
        "NUL in job_tag": alice.submit([(page, "p.png")], job_tag="box\x0012"),
        "NUL in a file name": alice.submit([(page, "p\x00.png")]),
        "NUL in client_request_token": alice.submit([(page, "p.png")], client_request_token="t\x00"),
        "NUL in a job id": alice.get("/v1/jobs/abc%00def"),
        "bad UTF-8 in a job id": alice.get("/v1/jobs/%FF%FE"),
        "NUL in a result path": alice.get("/v1/jobs/abc%00/result.txt"),
        "NUL in ?tag": alice.get("/v1/jobs?tag=a%00b"),
        "bad UTF-8 in ?tag": alice.get("/v1/jobs?tag=%FF"),
        "NUL in a key name": admin.post("/v1/keys", json={"name": "bad\x00key"}),
        "NUL in a key name (form)": admin.post("/v1/keys", data={"name": "bad\x00key"}),
        "NUL in a dashboard filter": admin.get("/v1/admin/jobs?tag=%00"),
    }
    for what, (tag, filename) in {
        "bad UTF-8 in job_tag": (b"box\xff\xfe", b"p.png"),
        "bad UTF-8 in a file name": (b"box", b"p\xff.png"),
    }.items():
        body, content_type = _multipart(tag, filename, page)
        answers[what] = client.post("/v1/jobs", headers=alice.headers, data=body, content_type=content_type)
    for what, answer in answers.items():
        assert answer.status_code == 400, (what, answer.status_code, answer.get_data(as_text=True)[:300])
        assert answer.json["error"] in ("invalid_characters", "invalid_option"), (what, answer.json)
        assert answer.json["message"], what

    legacy = client.post("/api/ocr", headers=alice.headers, data={"image": (io.BytesIO(page), "a\x00.png")})
    assert legacy.status_code == 400 and legacy.json["success"] is False
    assert legacy.json["error"] == "invalid_characters"


# --- outages: 503 with Retry-After, and ocrctl waits them out ----------------------------------
@pytest.fixture
def behind_proxy(platform):
    """The API, built as operators build it, reaching the tests' PostgreSQL through a cuttable proxy."""
    from api.app import create_app

    url = make_url(platform.env["OCR_DATABASE_URL"])
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    app = create_app(dataclasses.replace(platform.settings, database_url=proxied))
    try:
        yield app, proxy
    finally:
        app.extensions["ocr"].db.dispose()
        proxy.cut()  # also closes its listener for good


def test_a_database_outage_answers_503_with_retry_after_and_stores_nothing(behind_proxy, alice, nothing_stored):
    app, proxy = behind_proxy
    api = app.test_client()
    assert api.get("/v1/jobs", headers=alice.headers).status_code == 200
    proxy.cut()
    answers = [
        api.get("/v1/jobs", headers=alice.headers),
        api.get(f"/v1/jobs/{uuid.uuid4()}", headers=alice.headers),
        api.post("/v1/jobs", headers=alice.headers, data={"file": (io.BytesIO(tiny_png(3)), "p.png")}),
        api.post("/api/ocr", headers=alice.headers, data={"image": (io.BytesIO(tiny_png(3)), "p.png")}),
    ]
    for answer in answers:
        assert answer.status_code == 503, answer.get_data(as_text=True)[:300]
        assert answer.json["error"] == "database_unavailable" and int(answer.headers["Retry-After"]) >= 1
    assert answers[-1].json["success"] is False  # the earlier demo's shape
    assert api.get("/healthz").status_code == 200  # the process itself is fine
    assert api.get("/readyz").status_code == 503
    proxy.restore()
    assert api.get("/v1/jobs", headers=alice.headers).status_code == 200


def test_a_database_that_does_not_answer_gives_503_in_seconds(platform, alice):
    """A host that takes the connection and then says nothing (a hung server, a black hole) costs the
    connect timeout, not the request thread for good."""
    from api.app import create_app

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes the handshake; nobody ever answers
        url = make_url(platform.env["OCR_DATABASE_URL"]).set(host="127.0.0.1", port=silent.getsockname()[1])
        app = create_app(dataclasses.replace(platform.settings, database_url=url.render_as_string(hide_password=False)))
        started = time.monotonic()
        answer = app.test_client().get("/v1/jobs", headers=alice.headers)
        took = time.monotonic() - started
        app.extensions["ocr"].db.dispose()
    assert answer.status_code == 503 and answer.json["error"] == "database_unavailable"
    assert took < 60, took


class CountingApp:
    """WSGI wrapper that counts the answers by status, so a test sees the retries a client made."""

    def __init__(self, app):
        self.app, self.statuses = app, []

    def __call__(self, environ, start_response):
        def recording(status, headers, *args):
            self.statuses.append(int(status.split()[0]))
            return start_response(status, headers, *args)

        return self.app(environ, recording)


def ocrctl(url: str, key: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-m", "client.cli", "--url", url, "--api-key", key, *args]
    return subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def test_ocrctl_retries_503_honouring_retry_after_and_gives_up_in_bounds(behind_proxy, alice, keys):
    app, proxy = behind_proxy
    job_id = alice.submit([(tiny_png(4), "p.png")], outputs="json").json["job_id"]
    counting = CountingApp(app)
    server = make_server("127.0.0.1", 0, counting, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        proxy.cut()
        threading.Timer(2.0, proxy.restore).start()  # back before the 5 s the server asks the client to wait
        started = time.monotonic()
        result = ocrctl(url, keys["alice"], "status", job_id)
        waited = time.monotonic() - started
        assert result.returncode == 0, result.stderr
        assert job_id in result.stdout
        assert counting.statuses[:1] == [503] and counting.statuses[-1] == 200
        assert waited >= 4.5  # it slept as long as Retry-After said, not its own 0.5 s

        proxy.cut()
        counting.statuses.clear()
        result = ocrctl(url, keys["alice"], "--retries", "1", "status", job_id)
        assert result.returncode == 1 and "database" in result.stderr.lower(), result.stderr
        assert counting.statuses == [503, 503]  # bounded: one try and one retry
    finally:
        server.shutdown()


def test_a_broker_outage_answers_503_and_withdraws_the_job(platform, alice, nothing_stored):
    from api.app import create_app

    app = create_app(dataclasses.replace(platform.settings, broker_url="redis://127.0.0.1:1/0"))
    answer = app.test_client().post("/v1/jobs", headers=alice.headers, data={"file": (io.BytesIO(tiny_png(5)), "p.png")})
    assert answer.status_code == 503, answer.json
    assert answer.json["error"] == "queue_unavailable" and answer.headers["Retry-After"]


# --- synchronous waits are capped, so health checks always answer --------------------------------
def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_synchronous_waits_are_capped_and_healthz_still_answers(platform, alice):
    """gunicorn as `make run` runs it (api/gunicorn_conf.py), one process: 6 slow /api/ocr requests at
    once, of which 2 wait (OCR_MAX_SYNC_WAITS) and the others are told 429 to come back; /healthz answers at once."""
    port = _free_port()
    env = {**platform.env, "OCR_MAX_SYNC_WAITS": "2", "OCR_API_WORKERS": "1"}
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    server = subprocess.Popen(
        [gunicorn, "-c", "python:api.gunicorn_conf", "--bind", f"127.0.0.1:{port}", "--timeout", "300",
         "api.app:create_app()"],
        cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(url + "/healthz", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and server.poll() is None, "gunicorn did not start"
                time.sleep(0.3)

        slow = png(text_page(["Wait for me"], marker="slow"))

        def sync_request(n: int) -> requests.Response:
            files = {"image": (f"s{n}.png", slow)}
            return requests.post(url + "/api/ocr", headers=alice.headers, files=files, timeout=200)

        with ThreadPoolExecutor(6) as pool:
            pending = [pool.submit(sync_request, n) for n in range(6)]
            time.sleep(1.5)  # every request has arrived; the two admitted ones wait for their slow pages
            started = time.monotonic()
            health = requests.get(url + "/healthz", timeout=30)
            health_seconds = time.monotonic() - started
            answers = [p.result() for p in pending]
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
    assert health.status_code == 200 and health_seconds < 5
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 200, 429, 429, 429, 429], statuses
    busy = next(a for a in answers if a.status_code == 429)
    assert busy.json()["error"] == "server_busy" and busy.json()["success"] is False
    assert int(busy.headers["Retry-After"]) >= 1


# --- operators' endpoints -------------------------------------------------------------------------
def test_metrics_need_an_admin_key_unless_made_public(client, alice, admin, platform):
    assert client.get("/metrics").status_code == 401
    assert alice.get("/metrics").status_code == 403
    answer = admin.get("/metrics")
    assert answer.status_code == 200 and "ocr_jobs{" in answer.get_data(as_text=True)

    from api.app import create_app

    public = create_app(dataclasses.replace(platform.settings, metrics_public=True)).test_client()
    assert public.get("/metrics").status_code == 200


def test_method_not_allowed_names_the_allowed_methods(client, alice):
    for path, method, allowed in (
        ("/v1/jobs", "put", {"GET", "POST"}),
        ("/v1/jobs/x/cancel", "get", {"POST"}),
        ("/healthz", "post", {"GET"}),
    ):
        answer = getattr(client, method)(path, headers=alice.headers)
        assert answer.status_code == 405 and answer.json["error"] == "method_not_allowed"
        assert allowed <= {m.strip() for m in answer.headers["Allow"].split(",")}, answer.headers
