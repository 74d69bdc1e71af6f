"""The integration tests' platform: a real PostgreSQL, a real Redis and real Celery worker processes.

One session-wide set-up:
- a fresh PostgreSQL schema in OCR_TEST_DATABASE_URL, migrated by ``ocr-admin db upgrade`` (Alembic);
- the Redis at OCR_TEST_BROKER_URL, with every key under a per-run prefix so parallel runs never meet;
- a Celery worker started as operators start it (``celery -A worker.celery_app worker ...``), its
  pipeline wrapped by tests/integration/fault_stage.py so marked pages can crash it;
- the Flask app from create_app(), driven with its test client.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bench.procs import ProcessGroup
from core import settings as settings_module
from core.settings import REPO_ROOT, Settings

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/15"
FINAL = {"succeeded", "partial_success", "failed", "cancelled"}


# --- worker processes ----------------------------------------------------------------------------
class WorkerProcess(ProcessGroup):
    """``celery -A worker.celery_app worker`` in its own process group, so kill -9 takes all of it."""

    def __init__(self, env: dict, log_path: Path, name: str, concurrency: int = 2):
        self.env, self.log_path, self.name, self.concurrency = env, log_path, name, concurrency
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 90) -> WorkerProcess:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker", "-Q", "ocr.finish,ocr.jobs,ocr.pages",
             "--concurrency", str(self.concurrency), "--loglevel", "INFO", "-n", f"{self.name}@%h",
             "--without-mingle", "--without-gossip"],
            cwd=REPO_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.log_tail()}")
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                if b" ready." in f.read():
                    return self
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready after {timeout} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


# --- the platform ------------------------------------------------------------------------------------
def _schema_url(base: str, schema: str) -> str:
    return f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session")
def platform(tmp_path_factory):
    """Environment shared by the test process and the workers, a migrated schema, and a running worker."""
    base_db = os.environ.get("OCR_TEST_DATABASE_URL", DEFAULT_DATABASE_URL)
    broker = os.environ.get("OCR_TEST_BROKER_URL", DEFAULT_BROKER_URL)
    run = uuid.uuid4().hex[:10]
    schema = f"ocr_it_{run}"
    admin_engine = create_engine(base_db)
    with admin_engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))

    root = tmp_path_factory.mktemp("platform")
    env_overrides = {
        "OCR_DATABASE_URL": _schema_url(base_db, schema),
        "OCR_BROKER_URL": broker,
        "OCR_BROKER_KEY_PREFIX": f"ocr-it-{run}:",
        "OCR_DATA_DIR": str(root / "data"),
        "OCR_STORAGE_URL": f"file://{root / 'data' / 'storage'}",
        "OCR_PIPELINE_FACTORY": "tests.integration.fault_stage:get_pipeline",
        "OCR_FAULT_DIR": str(root / "faults"),
        # Generous page limits: the first page of each worker process also loads the models, on a busy machine.
        "OCR_PAGE_SOFT_TIME_LIMIT": "45",
        "OCR_PAGE_HARD_TIME_LIMIT": "50",
        "OCR_BROKER_VISIBILITY_TIMEOUT": "55",
        "OCR_MAX_PAGE_ATTEMPTS": "3",
        "OCR_MAX_PAGES_PER_JOB": "12",
        "OCR_MAX_UPLOAD_BYTES": str(2 * 1024 * 1024),
        "OCR_DEFAULT_RATE_LIMIT": "0",
        "OCR_WEBHOOK_BACKOFF": "1",
        "OCR_WEBHOOK_MAX_RETRIES": "3",
        # The tests' callback receivers listen on loopback, which callbacks may not reach unless allowed.
        "OCR_WEBHOOK_ALLOW": "127.0.0.1",
        "OCR_SYNC_TIMEOUT": "150",
        "OCR_TORCH_THREADS": "1",
        # The reconciler sweeps every second and re-sends a message missing for 5 s, so the tests of
        # lost messages (test_recovery.py) see it act within seconds.
        "OCR_RECONCILE_INTERVAL": "1",
        "OCR_RECONCILE_GRACE": "5",
        "PYTHONPATH": str(REPO_ROOT),
    }
    saved = {k: os.environ.get(k) for k in env_overrides}
    os.environ.update(env_overrides)
    settings_module.get_settings.cache_clear()
    env = dict(os.environ)

    migrate = subprocess.run([sys.executable, "-m", "api.admin", "db", "upgrade"], cwd=REPO_ROOT, env=env,
                             capture_output=True, text=True)  # fmt: skip
    assert migrate.returncode == 0, migrate.stderr

    state = Platform(env=env, root=root, settings=Settings.from_env())
    state.worker = WorkerProcess(env, root / "worker.log", f"it-{run}").start()
    try:
        yield state
    finally:
        for worker in state.workers_started():
            worker.stop()
        _flush_prefix(broker, env_overrides["OCR_BROKER_KEY_PREFIX"])
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        settings_module.get_settings.cache_clear()
        from db.session import dispose_all

        dispose_all()
        with admin_engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin_engine.dispose()


def _flush_prefix(broker_url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(broker_url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=500))
    if keys:
        client.delete(*keys)


@dataclasses.dataclass
class Platform:
    env: dict
    root: Path
    settings: Settings
    worker: WorkerProcess | None = None
    _extra: list = dataclasses.field(default_factory=list)

    def new_worker(self, name: str, env: dict | None = None, concurrency: int = 2) -> WorkerProcess:
        worker = WorkerProcess(env or self.env, self.root / f"{name}.log", f"{name}-{uuid.uuid4().hex[:6]}", concurrency)
        self._extra.append(worker)
        return worker

    def workers_started(self) -> list[WorkerProcess]:
        return [w for w in [self.worker, *self._extra] if w is not None]

    def storage_files(self, under: str = "") -> list[Path]:
        base = self.root / "data" / "storage" / under
        return sorted(p for p in base.rglob("*") if p.is_file()) if base.exists() else []


@pytest.fixture(scope="session")
def app(platform):
    from api.app import create_app
    from tests.integration.answer_check import install

    app = create_app(platform.settings)
    install(app, CONTRACT_BREAKS.append)
    return app


# Answers of documented routes that do not match /openapi.json (answer_check.py), for the test that got them.
CONTRACT_BREAKS: list[str] = []


@pytest.fixture(autouse=True)
def answers_keep_the_contract():
    """Every answer a test gets from a documented route must be the one /openapi.json describes."""
    CONTRACT_BREAKS.clear()
    yield
    if CONTRACT_BREAKS:
        broken = "\n".join(dict.fromkeys(CONTRACT_BREAKS))
        CONTRACT_BREAKS.clear()
        pytest.fail(f"answers outside /openapi.json:\n{broken}")


@pytest.fixture(scope="session")
def live_server(app):
    """The app served over HTTP from a thread, for clients that need a socket (a browser, ocrctl)."""
    from werkzeug.serving import make_server

    from web.local_stack import free_port

    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="tests-live-api", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def keys(platform, app):
    """API keys: alice made with the ocr-admin CLI (as operators do), the others directly."""
    made = subprocess.run(
        [sys.executable, "-m", "api.admin", "keys", "create", "--name", "alice", "--json"],
        cwd=REPO_ROOT, env=platform.env, capture_output=True, text=True,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    alice = json.loads(made.stdout)

    from db.keys import create_key

    db = app.extensions["ocr"].db
    found = {"alice": alice["key"]}
    with db.session() as s:
        found["bob"] = create_key(s, "bob").key
        found["admin"] = create_key(s, "admin", admin=True).key
        found["limited"] = create_key(s, "limited", rate_limit="3/min").key
        found["quota"] = create_key(s, "quota", quota_pages=2).key
    return found


class Api:
    """The test client with a key, plus the few helpers every test needs."""

    def __init__(self, client, key: str | None):
        self.client = client
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}

    def submit(self, files: list[tuple[bytes, str]], **options):
        data = {k: str(v) for k, v in options.items()}
        data["file"] = [(io.BytesIO(content), name) for content, name in files]
        return self.client.post("/v1/jobs", headers=self.headers, data=data, content_type="multipart/form-data")

    def get(self, path: str, **kwargs):
        return self.client.get(path, headers=self.headers, **kwargs)

    def post(self, path: str, **kwargs):
        return self.client.post(path, headers=self.headers, **kwargs)

    def delete(self, path: str):
        return self.client.delete(path, headers=self.headers)

    def job(self, job_id: str) -> dict:
        answer = self.get(f"/v1/jobs/{job_id}")
        assert answer.status_code == 200, answer.json
        return answer.json

    def wait(self, job_id: str, timeout: float = 240, until=FINAL) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if job["status"] in until:
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s: {job}")
            time.sleep(0.3)

    def wait_for(self, job_id: str, predicate, timeout: float = 180) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if predicate(job):
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} never reached the expected state: {job}")
            time.sleep(0.2)


@pytest.fixture(scope="session")
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def alice(client, keys):
    return Api(client, keys["alice"])


@pytest.fixture(scope="session")
def bob(client, keys):
    return Api(client, keys["bob"])


@pytest.fixture(scope="session")
def admin(client, keys):
    return Api(client, keys["admin"])


@pytest.fixture(autouse=True)
def worker_log(platform, request):
    """Shows the worker's log when a test fails."""
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        for worker in platform.workers_started():
            print(f"--- {worker.name} log ---\n{worker.log_tail()}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
