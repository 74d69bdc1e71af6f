"""Recovery from lost messages and outages: the reconciler, retries that outlast a database outage,
a pool process killed with SIGKILL, and retention.

Faults come from real parts behaving as they do when something breaks: a worker process whose
Redis is down (tests/integration/stranding.py), a TCP forwarder in front of PostgreSQL that is
cut (tests/integration/tcp_proxy.py), SIGKILL. Time limits are derived from how long this
machine took to start a worker and read a page, measured here, not fixed small sleeps.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select, update

from core.settings import REPO_ROOT
from tests.integration.documents import pdf, png, text_page
from tests.integration.tcp_proxy import TcpProxy
from tests.integration.test_webhook_compat_ops import CallbackReceiver

pytestmark = pytest.mark.integration

OLD_RETRY_WINDOW = 2 + 4 + 8 + 16 + 32  # seconds: the five retries a task had before it failed the work


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _key_id(app, name: str) -> int:
    from db.models import ApiKey

    with app.extensions["ocr"].db.session() as s:
        return s.scalar(select(ApiKey.id).where(ApiKey.name == name))


def strand(platform, app, tmp_path: Path, files: list[tuple[bytes, str]], tasks: list[str], **job) -> str:
    """Record a job and run ``tasks`` for it in a worker process whose Redis is down; its job id."""
    paths = []
    for n, (content, name) in enumerate(files):
        path = tmp_path / f"upload-{n}"
        path.write_bytes(content)
        paths.append([str(path), name])
    spec = {"api_key_id": _key_id(app, "alice"), "files": paths, "tasks": tasks, **job}
    env = dict(platform.env, OCR_BROKER_URL=f"redis://127.0.0.1:{_closed_port()}/0", OCR_ENQUEUE_PATIENCE="1")
    done = subprocess.run([sys.executable, "-m", "tests.integration.stranding", json.dumps(spec)],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])["job_id"]


def _one_page(text: str, marker: str | None = None) -> tuple[bytes, str]:
    return png(text_page([text], marker=marker)), f"{text.split()[0].lower()}.png"


def test_pages_whose_messages_were_lost_after_the_split_are_sent_again(alice, admin, app, platform, tmp_path):
    job_id = strand(platform, app, tmp_path, [_one_page("Stranded after split"), _one_page("Never fits", "oom")], ["split"])
    stranded = alice.job(job_id)
    assert stranded["status"] == "running" and [p["status"] for p in stranded["pages"]] == ["queued", "queued"]

    job = alice.wait(job_id)
    assert job["status"] == "partial_success", job  # the oom page fails on every attempt, the other is read
    assert [p["status"] for p in job["pages"]] == ["done", "failed"]
    result = alice.get(f"/v1/jobs/{job_id}/result").json
    assert [p["page_number"] for p in result["pages"]] == [1]  # one result for the page, however often it was sent

    # A job the sweep brought to its end is an ordinary finished job: an operator can retry it.
    retried = admin.post(f"/v1/admin/jobs/{job_id}/retry")
    assert retried.status_code == 202, retried.json
    assert alice.wait(job_id)["status"] == "partial_success"


def test_a_finished_job_whose_finish_message_was_lost_is_finished_by_the_sweep(alice, app, platform, tmp_path):
    job_id = strand(platform, app, tmp_path, [_one_page("Finish went missing", "oom")], ["split", "pages"])
    stranded = alice.job(job_id)
    assert stranded["status"] == "running", stranded
    assert stranded["pages_failed"] == stranded["pages_total"] == 1  # every page settled, nothing to finish it

    job = alice.wait(job_id)
    assert job["status"] == "failed"
    assert job["error"]["code"] == "resource_exhausted"


def test_a_job_cancelled_before_its_lost_split_ends_cancelled(alice, app, platform, tmp_path):
    job_id = strand(platform, app, tmp_path, [_one_page("Cancel me")], [])
    answer = alice.post(f"/v1/jobs/{job_id}/cancel")
    assert answer.status_code in (200, 202), answer.json
    assert alice.wait(job_id)["status"] == "cancelled"


def test_a_queued_job_whose_split_message_was_lost_is_read(alice, app, platform, tmp_path):
    job_id = strand(platform, app, tmp_path, [_one_page("Never split")], [])
    job = alice.wait(job_id)
    assert job["status"] == "succeeded", job
    assert job["pages_done"] == 1


def test_a_webhook_whose_message_was_lost_is_delivered_once(alice, app, platform, tmp_path):
    receiver = CallbackReceiver(failures=0)
    try:
        job_id = strand(platform, app, tmp_path, [_one_page("Tell me", "oom")], ["split", "pages", "finish"],
                        callback_url=receiver.url)  # fmt: skip
        stranded = alice.job(job_id)
        assert stranded["status"] == "failed" and stranded["webhook"]["status"] == "pending", stranded
        receiver.wait_calls(1)
        # Delivered: later sweeps must not send it again.
        time.sleep(platform.settings.reconcile_grace + 3 * platform.settings.reconcile_interval)
        assert len(receiver.calls) == 1
        assert json.loads(receiver.calls[0][1])["job_id"] == job_id
        assert alice.job(job_id)["webhook"]["status"] == "delivered"
    finally:
        receiver.server.shutdown()


# --- the database away for longer than the old retries lasted -------------------------------------------
def _proxied(url: str, proxy: TcpProxy) -> str:
    parts = urlsplit(url)
    return url.replace(parts.netloc, f"{parts.username + '@' if parts.username else ''}127.0.0.1:{proxy.port}", 1)


def test_a_database_outage_longer_than_the_old_retries_loses_no_work(alice, platform):
    parts = urlsplit(platform.env["OCR_DATABASE_URL"])
    proxy = TcpProxy(parts.hostname, parts.port or 5432)
    env = dict(platform.env, OCR_DATABASE_URL=_proxied(platform.env["OCR_DATABASE_URL"], proxy))
    platform.worker.stop()  # only the worker behind the proxy reads pages now
    cut_off = platform.new_worker("db-outage", env=env).start()
    try:
        pages = [text_page([f"Outage page {n}"], marker="slow") for n in range(1, 4)]
        job_ids = [alice.submit([(pdf(pages), f"outage-{k}.pdf")]).json["job_id"] for k in range(3)]
        alice.wait_for(job_ids[0], lambda j: any(p["status"] == "running" for p in j["pages"]))
        proxy.cut()
        time.sleep(OLD_RETRY_WINDOW + 15)
        proxy.restore()
        jobs = [alice.wait(job_id, timeout=600) for job_id in job_ids]
    finally:
        if proxy.is_cut:
            proxy.restore()  # so the worker can leave cleanly
        cut_off.stop()
        proxy.cut()
        platform.worker = platform.new_worker("after-outage").start()
    assert [j["status"] for j in jobs] == ["succeeded"] * 3, jobs
    for job in jobs:
        assert job["pages_done"] == 3 and job["pages_failed"] == 0
        result = alice.get(f"/v1/jobs/{job['job_id']}/result").json
        assert [p["page_number"] for p in result["pages"]] == [1, 2, 3]


# --- a pool process killed: its worker forks a new one that reads the next page --------------------------
def _pool_children(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children]


def _torch_import_seconds() -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", "import torch"], check=True, cwd=REPO_ROOT)
    return time.monotonic() - started


def _logged_at(worker, marker: str, timeout: float) -> datetime:
    """When the worker first logged a line containing ``marker``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in worker.log_path.read_text(errors="replace").splitlines():
            if marker in line:  # "[2026-11-29 17:01:33,271: INFO/ForkPoolWorker-1] pool process 1975: ..."
                return datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f")
        time.sleep(0.1)
    raise AssertionError(f"no {marker!r} in the log:\n{worker.log_tail()}")


def test_a_worker_replaces_a_pool_process_killed_with_sigkill(alice, platform):
    started = time.monotonic()
    worker = platform.new_worker("respawn", concurrency=1).start()
    start_up = time.monotonic() - started
    # Measured now, on this machine as busy as it is: what a pool process that imported torch
    # itself would spend before it could report for work (past Celery's 4 s on a busy machine).
    torch_import = _torch_import_seconds()
    try:
        first = alice.submit([_one_page("Before the kill")]).json["job_id"]
        began = time.monotonic()
        assert alice.wait(first)["status"] == "succeeded"
        page_time = time.monotonic() - began  # includes the session worker's share and model loading

        for _ in range(2):  # a replacement must itself be replaceable
            (child,) = _pool_children(worker.proc.pid)
            os.kill(child, signal.SIGKILL)
            deadline = time.monotonic() + 2 * start_up + 30
            replacement = None
            while replacement is None and time.monotonic() < deadline:
                children = _pool_children(worker.proc.pid)
                # the dead child may linger unreaped beside its replacement for a moment
                if len(children) == 1 and children[0] != child:
                    replacement = children[0]
                time.sleep(0.1)
            assert replacement is not None, worker.log_tail()
            # From the moment the worker saw its child die until the replacement reported for work:
            # forked from a parent that imported torch already, it is up long before an import of
            # torch could have finished.
            died = _logged_at(worker, f"pid:{child} exited", 2 * start_up + 30)
            up = _logged_at(worker, f"pool process {replacement}:", 2 * start_up + 30)
            assert (up - died).total_seconds() < max(1.0, torch_import / 2), (up - died, torch_import)

        platform.worker.stop()  # the next page can only be read by the replaced process
        job_id = alice.submit([_one_page("After the kill")]).json["job_id"]
        job = alice.wait(job_id, timeout=2 * start_up + 3 * page_time + 60)
        assert job["status"] == "succeeded", job
        assert "Timed out waiting for UP message" not in worker.log_path.read_text(errors="replace")
    finally:
        worker.stop()
        platform.worker = platform.new_worker("after-respawn").start()


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# --- retention ---------------------------------------------------------------------------------------
def test_jobs_are_deleted_with_their_files_when_retention_runs_out(alice, app, platform):
    from db.models import Job

    old = alice.wait(alice.submit([_one_page("Old enough to go")], outputs="json,txt").json["job_id"])
    kept = alice.wait(alice.submit([_one_page("Recent enough to stay")], outputs="json,txt").json["job_id"])
    finished = old["finished_at"]
    days = platform.settings.retention_days
    assert old["expires_at"] is not None and old["expires_at"] > finished
    assert parse(old["expires_at"]) - parse(finished) == timedelta(days=days)
    assert platform.storage_files(f"jobs/{old['job_id']}")

    with app.extensions["ocr"].db.session() as s:
        s.execute(
            update(Job).where(Job.id == old["job_id"]).values(finished_at=parse(finished) - timedelta(days=days, minutes=1))
        )
    deadline = time.monotonic() + 60
    while alice.get(f"/v1/jobs/{old['job_id']}").status_code != 404:
        assert time.monotonic() < deadline, "the expired job was not deleted"
        time.sleep(0.5)
    assert platform.storage_files(f"jobs/{old['job_id']}") == []
    assert alice.job(kept["job_id"])["status"] == "succeeded"
    assert platform.storage_files(f"jobs/{kept['job_id']}")
