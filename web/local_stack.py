"""A throwaway OCR platform for scripts (screenshots, the dashboard load benchmark).

Everything lives in a temporary directory and goes away with it: a SQLite
database (or a fresh schema in a PostgreSQL the caller names), a Redis key
prefix of its own on the Redis at OCR_BROKER_URL (or a redis-server started
here when none answers), the API served from a thread, and optionally a
Celery worker process, started as operators start one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from core import settings as settings_module
from core.settings import REPO_ROOT, Settings

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str:
    """Debian's Chromium (Playwright's own browser download is impossible offline)."""
    for candidate in (os.environ.get("OCR_TEST_CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2).ping())
    except redis.RedisError:
        return False


@dataclass
class Stack:
    root: Path
    env: dict
    settings: Settings
    base_url: str = ""
    admin_key: str = ""
    _cleanups: list = field(default_factory=list)

    def app_services(self):
        from api.services import Services

        return Services.build(self.settings)


def _start_redis(root: Path) -> tuple[str, subprocess.Popen]:
    server = shutil.which("redis-server")
    if server is None:
        raise RuntimeError("No Redis answers at OCR_BROKER_URL and redis-server is not installed (apt-get install redis-server).")
    port = free_port()
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 15
    while not redis_answers(url):
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError("redis-server did not start")
        time.sleep(0.1)
    return url, proc


@contextlib.contextmanager
def local_stack(database_url: str | None = None, *, worker: bool = False, extra_env: dict | None = None) -> Iterator[Stack]:
    """Set up the platform; yields a Stack whose API answers at ``stack.base_url`` with ``stack.admin_key``."""
    root = Path(tempfile.mkdtemp(prefix="ocr-stack-"))
    run = uuid.uuid4().hex[:8]
    cleanups: list = []
    saved_env = dict(os.environ)
    try:
        broker = os.environ.get("OCR_BROKER_URL", "redis://127.0.0.1:6379/0")
        if not redis_answers(broker):
            broker, redis_proc = _start_redis(root)
            cleanups.append(lambda: (redis_proc.terminate(), redis_proc.wait(10)))
        db_url, drop_schema = _database(database_url, root, run)
        if drop_schema:
            cleanups.append(drop_schema)
        env = {
            "OCR_DATABASE_URL": db_url,
            "OCR_BROKER_URL": broker,
            "OCR_BROKER_KEY_PREFIX": f"ocr-stack-{run}:",
            "OCR_DATA_DIR": str(root / "data"),
            "OCR_STORAGE_URL": f"file://{root / 'data' / 'storage'}",
            "OCR_DEFAULT_RATE_LIMIT": "0",
            "OCR_HEARTBEAT_INTERVAL": "3",
            "PYTHONPATH": str(REPO_ROOT),
            **(extra_env or {}),
        }
        os.environ.update(env)
        settings_module.get_settings.cache_clear()
        settings = Settings.from_env()
        cleanups.append(lambda: _flush_prefix(broker, env["OCR_BROKER_KEY_PREFIX"]))

        from api.admin import upgrade_database

        upgrade_database(db_url)
        stack = Stack(root=root, env=dict(os.environ), settings=settings, _cleanups=cleanups)
        from db.keys import create_key
        from db.session import get_database

        with get_database(db_url).session() as s:
            stack.admin_key = create_key(s, "screenshots-admin", admin=True).key

        if worker:
            cleanups.append(_start_worker(stack, run))
        stack.base_url, stop_server = _serve(settings)
        cleanups.append(stop_server)
        yield stack
    finally:
        for cleanup in reversed(cleanups):
            try:
                cleanup()
            except Exception as exc:  # clean up the rest regardless
                print(f"cleanup: {exc}", file=sys.stderr)
        from db.session import dispose_all

        dispose_all()
        os.environ.clear()
        os.environ.update(saved_env)
        settings_module.get_settings.cache_clear()
        shutil.rmtree(root, ignore_errors=True)


def _database(database_url: str | None, root: Path, run: str):
    if not database_url:
        return f"sqlite:///{root / 'ocr.db'}", None
    from sqlalchemy import create_engine, text

    schema = f"ocr_stack_{run}"
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop():
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()

    sep = "&" if "?" in database_url else "?"
    return f"{database_url}{sep}options=-csearch_path%3D{schema}", drop


def _flush_prefix(broker_url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(broker_url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=500))
    if keys:
        client.delete(*keys)


def _start_worker(stack: Stack, run: str):
    log_path = stack.root / "worker.log"
    log = open(log_path, "wb")  # noqa: SIM115 - the child owns it
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker", "-Q", "ocr.finish,ocr.jobs,ocr.pages",
         "--concurrency", "1", "--loglevel", "INFO", "-n", f"stack-{run}@%h", "--without-mingle", "--without-gossip"],
        cwd=REPO_ROOT, env=stack.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    log.close()
    deadline = time.monotonic() + 120
    while b" ready." not in log_path.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the worker did not start:\n" + log_path.read_text(errors="replace")[-3000:])
        time.sleep(0.2)

    def stop():
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    return stop


def _serve(settings: Settings):
    import logging

    from werkzeug.serving import make_server

    from api.app import create_app

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request in the script's output
    port = free_port()
    server = make_server("127.0.0.1", port, create_app(settings), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="ocr-api", daemon=True)
    thread.start()

    def stop():
        server.shutdown()
        thread.join(timeout=10)

    return f"http://127.0.0.1:{port}", stop
