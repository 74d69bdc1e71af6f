"""How fast the API accepts jobs: submit latency under an open-loop load, and saturation throughput
of submits beside that of /healthz, for SQLite and PostgreSQL, with no workers running.

    python -m bench.submit_load [--backends sqlite,postgres] [--clients 100] [--rate 1] [--duration 60]
                                [--saturation-clients 100] [--saturation-seconds 20]

For each backend it starts its own platform on loopback: a fresh database (a SQLite file in a temp
directory; a PostgreSQL database created in OCR_TEST_DATABASE_URL's server and dropped afterwards),
its own redis-server on a free port, and the API under gunicorn with api/gunicorn_conf.py, the
configuration `make run` uses. No Celery worker runs, so each job's split_job message stays in the
queue, where the last step finds it. Then:

  1. open loop: ``--clients`` clients each submit one small distinct PNG every 1/``--rate`` s for
     ``--duration`` s. Requests leave at their scheduled times whether earlier ones have answered
     or not (a client opens another connection while one is busy), and latency runs from the
     scheduled time, so a slow server cannot hide its queueing by slowing the senders down
     (coordinated omission);
  2. saturation: ``--saturation-clients`` closed-loop clients (send, wait for the answer, send
     again) submit for ``--saturation-seconds``, then the same clients ask /healthz as long:
     the ratio of the two rates is what a submit costs in health checks;
  3. every job the API accepted (202) must be in the database and its split_job message in the
     queue, and nothing else may be there.

The load generator is this one Python process (asyncio, a bare HTTP/1.1 client with keep-alive:
its own cost per request is small beside any HTTP library's), on the same machine as the server,
the database and Redis: it competes with them for the CPU, which the figures include.
Exit status 1 when a request failed or a job is missing; the latency targets are reported, not
enforced (they depend on the machine).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import io
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from bench.procs import ProcessGroup
from core.settings import REPO_ROOT

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REQUEST_TIMEOUT = 30.0  # seconds; a request not answered by then counts as an error
# Issue #13's targets for PostgreSQL at 100 submits/s.
TARGET_P95_MS, TARGET_P99_MS, TARGET_RATIO = 50.0, 150.0, 0.4


# --- the platform under test ---------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(check, timeout: float, what: str, proc: subprocess.Popen | None = None, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            break
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise RuntimeError(f"{what} did not come up within {timeout:.0f} s\n{tail}")


def port_answers(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


class Child(ProcessGroup):
    """A server this run started, in its own process group (bench/procs.py)."""

    def __init__(self, argv: list[str], env: dict, log: Path):
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                argv, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )


def start_redis(workdir: Path) -> tuple[Child, str]:
    """A redis-server of our own, configured like the one `make run` starts (append-only file)."""
    if shutil.which("redis-server") is None:
        raise SystemExit("submit_load: redis-server is not installed (Debian: apt-get install redis-server)")
    port = free_port()
    directory = workdir / "redis"
    directory.mkdir()
    argv = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", str(directory),
            "--appendonly", "yes", "--save", ""]  # fmt: skip
    redis_server = Child(argv, dict(os.environ), workdir / "redis.log")
    wait_until(lambda: port_answers(port), 15, "redis-server", redis_server.proc, redis_server.log)
    return redis_server, f"redis://127.0.0.1:{port}/0"


@contextmanager
def database(backend: str, workdir: Path, postgres_url: str) -> Iterator[str]:
    """A fresh, empty database URL; a PostgreSQL database is dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'ocr.db'}"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"ocr_submit_load_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def migrate_and_make_key(env: dict) -> str:
    done = subprocess.run([sys.executable, "-m", "api.admin", "db", "upgrade"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"migration failed:\n{done.stderr[-3000:]}")
    from db.keys import create_key
    from db.session import Database

    db = Database(env["OCR_DATABASE_URL"])
    try:
        with db.session() as s:
            # Its own limit, far above the load, so each request still pays the limiter's Redis round trip.
            return create_key(s, "submit-load", rate_limit="1000000/min").key
    finally:
        db.dispose()


def start_api(env: dict, workdir: Path) -> tuple[Child, int]:
    port = free_port()
    argv = [sys.executable, "-m", "gunicorn", "-c", "python:api.gunicorn_conf", "--bind", f"127.0.0.1:{port}",
            "api.app:create_app()"]  # fmt: skip
    api = Child(argv, env, workdir / "api.log")

    def healthy() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return sock.recv(64).startswith(b"HTTP/1.1 200")

    wait_until(healthy, 90, "the API", api.proc, api.log)
    return api, port


# --- requests --------------------------------------------------------------------------------------
@functools.cache
def _blank_png() -> bytes:
    out = io.BytesIO()
    Image.new("L", (240, 64), 255).save(out, "PNG")
    return out.getvalue()


def small_png(n: int) -> bytes:
    """A small page, different for each n, so no upload is a repeat of another: a blank PNG with n in
    a tEXt chunk after its header. Made in microseconds, not by drawing and compressing an image
    each time: the closed loop makes one per request, and the generator shares the server's CPU."""
    blank = _blank_png()
    ihdr_end = 8 + 4 + 4 + 13 + 4  # signature, then IHDR's length, type, 13 bytes of data and CRC
    data = b"Comment\0" + str(n).encode()
    chunk = struct.pack(">I", len(data)) + b"tEXt" + data + struct.pack(">I", zlib.crc32(b"tEXt" + data))
    return blank[:ihdr_end] + chunk + blank[ihdr_end:]


def submit_request(key: str, n: int, run: str) -> bytes:
    """POST /v1/jobs with one file and a client_request_token, as ocrctl (requests) sends it: with a
    boundary of its own, which the server's multipart parser compiles its patterns for each time."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="client_request_token"\r\n\r\n{run}-{n}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="p{n}.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + small_png(n)
        + f"\r\n--{boundary}--\r\n".encode()
    )
    head = (
        f"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.used = False

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def exchange(self, raw: bytes) -> tuple[int, bytes, bool]:
        """Send one request, read its answer: (status, body, the server keeps the connection)."""
        self.writer.write(raw)
        status_line = await self.reader.readuntil(b"\r\n")
        status = int(status_line.split()[1])
        length, keep = None, True
        chunked = False
        while (line := await self.reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value == "close":
                keep = False
            elif name == "transfer-encoding" and "chunked" in value:
                chunked = True
        if chunked:
            body = b""
            while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
                body += await self.reader.readexactly(size + 2)
            await self.reader.readuntil(b"\r\n")
        elif length is not None:
            body = await self.reader.readexactly(length)
        else:
            body, keep = await self.reader.read(), False
        self.used = True
        return status, body, keep

    def close(self) -> None:
        self.writer.close()


@dataclass
class Outcome:
    latency: float  # seconds, from the scheduled (open loop) or actual (closed loop) sending time
    status: int  # 0: no answer (connection error or timeout)
    job_id: str | None = None
    error: str | None = None


class Client:
    """One client's keep-alive connections: a request takes an idle one or opens another."""

    def __init__(self, port: int):
        self.port = port
        self.idle: list[Connection] = []

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        for attempt in range(2):
            # The second try always on a new connection: the other idle ones may have been closed too.
            conn = self.idle.pop() if self.idle and attempt == 0 else await Connection.open(self.port)
            try:
                status, body, keep = await conn.exchange(raw)
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                conn.close()
                # gunicorn closes a keep-alive connection idle past its keepalive time; a request that
                # met such a connection before any answer byte was never read there: send it again.
                if conn.used and isinstance(exc, asyncio.IncompleteReadError) and not exc.partial:
                    continue
                raise
            if keep:
                self.idle.append(conn)
            else:
                conn.close()
            return status, body
        raise AssertionError("unreachable")

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()


async def timed(client: Client, raw: bytes, since: float) -> Outcome:
    try:
        status, body = await asyncio.wait_for(client.send(raw), REQUEST_TIMEOUT)
    except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
        return Outcome(time.perf_counter() - since, 0, error=f"{type(exc).__name__}: {exc}")
    latency = time.perf_counter() - since
    if status != 202:
        return Outcome(latency, status, error=body[:200].decode(errors="replace")) if status != 200 else Outcome(latency, status)
    return Outcome(latency, status, job_id=json.loads(body)["job_id"])


async def open_loop(port: int, key: str, run: str, clients: int, rate: float, duration: float, first: int) -> list[Outcome]:
    """Each client sends at its fixed times (phases spread over the interval), answered or not."""
    interval = 1.0 / rate
    per_client = max(1, round(duration * rate))
    pool = [Client(port) for _ in range(clients)]
    schedule = sorted(
        (k * interval + c * interval / clients, c, first + c * per_client + k) for c in range(clients) for k in range(per_client)
    )
    requests = {n: submit_request(key, n, run) for _, _, n in schedule}  # built before the clock starts
    # Every client opens its connection first, as a client that has been running would have it open.
    for client in pool:
        client.idle.append(await Connection.open(port))
    tasks = []
    start = time.perf_counter() + 0.2
    for offset, c, n in schedule:
        due = start + offset
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(timed(pool[c], requests[n], due)))
    outcomes = await asyncio.gather(*tasks)
    for client in pool:
        client.close()
    return list(outcomes)


async def closed_loop(
    port: int, make_request, clients: int, seconds: float, warmup: float = 1.0
) -> tuple[list[Outcome], list[Outcome]]:
    """``clients`` clients sending back to back for ``warmup`` + ``seconds``. Returns the requests
    sent and answered within the measured window (after ``warmup``), and all of them."""
    pool = [Client(port) for _ in range(clients)]
    start = time.perf_counter()
    window = (start + warmup, start + warmup + seconds)
    counted: list[Outcome] = []
    everything: list[Outcome] = []

    async def one(client: Client, c: int) -> None:
        k = 0
        while time.perf_counter() < window[1]:
            sent = time.perf_counter()
            outcome = await timed(client, make_request(c, k), sent)
            k += 1
            everything.append(outcome)
            if window[0] <= sent and time.perf_counter() <= window[1]:
                counted.append(outcome)

    await asyncio.gather(*(one(client, c) for c, client in enumerate(pool)))
    for client in pool:
        client.close()
    return counted, everything


# --- checking what was accepted --------------------------------------------------------------------
def jobs_in_database(database_url: str) -> set[str]:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return {row[0] for row in conn.execute(text("SELECT id FROM jobs"))}
    finally:
        engine.dispose()


def jobs_in_queue(broker_url: str) -> list[str]:
    """The job ids of the split_job messages waiting in the ocr.jobs queue (kombu's Redis lists)."""
    import redis

    client = redis.Redis.from_url(broker_url)
    ids = []
    for key in client.scan_iter(match="ocr.jobs*"):
        if client.type(key) != b"list":
            continue
        for raw in client.lrange(key, 0, -1):
            message = json.loads(raw)
            args = json.loads(base64.b64decode(message["body"]))[0]
            if message["headers"].get("task") == "worker.tasks.split_job":
                ids.append(args[0])
    client.close()
    return ids


# --- one backend -------------------------------------------------------------------------------------
@dataclass
class Phase:
    name: str
    clients: int
    outcomes: list[Outcome]  # the requests measured
    seconds: float
    job_ids: set[str] = field(default_factory=set)  # every job accepted, also outside the measured window

    @property
    def ok(self) -> int:
        return sum(1 for o in self.outcomes if o.error is None)

    @property
    def errors(self) -> int:
        return len(self.outcomes) - self.ok

    def percentile(self, q: float) -> float:
        """Milliseconds, over every request (an error's latency counts: it is what the client waited)."""
        latencies = sorted(o.latency for o in self.outcomes)
        if not latencies:
            return float("nan")
        return 1000 * latencies[min(len(latencies) - 1, int(q / 100 * len(latencies)))]


@dataclass
class BackendResult:
    backend: str
    phases: list[Phase] = field(default_factory=list)
    accepted: int = 0
    in_database: int = 0
    in_queue: int = 0
    missing_in_database: int = 0
    missing_in_queue: int = 0
    twice: int = 0  # split_job messages queued more than once
    unanswered: int = 0  # jobs in the database whose request got no 202
    error_samples: list[str] = field(default_factory=list)

    def phase(self, name: str) -> Phase | None:
        return next((p for p in self.phases if p.name == name), None)

    @property
    def ratio(self) -> float:
        submits, health = self.phase("saturation submit"), self.phase("saturation /healthz")
        if not submits or not health or not health.ok:
            return float("nan")
        return (submits.ok / submits.seconds) / (health.ok / health.seconds)

    @property
    def lost(self) -> bool:
        return bool(self.missing_in_database or self.missing_in_queue or self.twice)


def stack_env(database_url: str, broker: str, workdir: Path, **extra: str) -> dict[str, str]:
    """The environment of a stack started for one benchmark run: its own database, broker and data."""
    return {
        **os.environ,
        "OCR_DATABASE_URL": database_url,
        "OCR_BROKER_URL": broker,
        "OCR_BROKER_KEY_PREFIX": "",
        "OCR_DATA_DIR": str(workdir / "data"),
        "OCR_STORAGE_URL": f"file://{workdir / 'data' / 'storage'}",
        "PYTHONPATH": str(REPO_ROOT),
        **extra,
    }


def run_backend(backend: str, args: argparse.Namespace) -> BackendResult:
    result = BackendResult(backend)
    run = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix=f"submit-load-{backend}-") as tmp:
        workdir = Path(tmp)
        redis_server, broker = start_redis(workdir)
        api = None
        try:
            with database(backend, workdir, args.postgres_url) as database_url:
                env = stack_env(database_url, broker, workdir)
                key = migrate_and_make_key(env)
                api, port = start_api(env, workdir)
                try:
                    measure(result, port, key, run, args)
                finally:
                    api.stop()
                check_jobs(result, database_url, broker)
        finally:
            if api is not None:
                api.stop()
            redis_server.stop()
            if args.keep_logs:
                kept = Path(args.keep_logs) / backend
                kept.mkdir(parents=True, exist_ok=True)
                for name in ("api.log", "redis.log"):
                    if (workdir / name).exists():
                        shutil.copy(workdir / name, kept / name)
    return result


def measure(result: BackendResult, port: int, key: str, run: str, args: argparse.Namespace) -> None:
    label = f"open loop {args.clients * args.rate:g}/s"
    outcomes = asyncio.run(open_loop(port, key, run, args.clients, args.rate, args.duration, first=0))
    result.phases.append(Phase(label, args.clients, outcomes, args.duration, {o.job_id for o in outcomes if o.job_id}))
    first = 10_000_000  # the saturation's uploads, distinct from the open loop's

    def submit(c: int, k: int) -> bytes:
        return submit_request(key, first + c * 100_000 + k, run)

    seconds = args.saturation_seconds
    counted, everything = asyncio.run(closed_loop(port, submit, args.saturation_clients, seconds))
    job_ids = {o.job_id for o in everything if o.job_id}
    result.phases.append(Phase("saturation submit", args.saturation_clients, counted, seconds, job_ids))
    counted, _ = asyncio.run(closed_loop(port, lambda c, k: HEALTHZ, args.saturation_clients, seconds))
    result.phases.append(Phase("saturation /healthz", args.saturation_clients, counted, seconds))
    for phase in result.phases:
        result.error_samples += [f"{phase.name}: {o.status} {o.error}" for o in phase.outcomes if o.error][:3]


def check_jobs(result: BackendResult, database_url: str, broker: str) -> None:
    accepted = set().union(*(p.job_ids for p in result.phases))
    result.accepted = len(accepted)
    stored = jobs_in_database(database_url)
    queued = jobs_in_queue(broker)
    result.in_database, result.in_queue = len(stored), len(queued)
    result.missing_in_database = len(accepted - stored)
    result.missing_in_queue = len(accepted - set(queued))
    result.twice = len(queued) - len(set(queued))
    # A job recorded although its client got no 202 (it timed out waiting) is not lost; counted apart.
    result.unanswered = len(stored - accepted)


# --- report ----------------------------------------------------------------------------------------
def table(results: list[BackendResult]) -> str:
    head = f"{'backend':<10} {'phase':<22} {'clients':>7} {'requests':>8} {'errors':>6} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}"
    lines = [head, "-" * len(head)]
    for result in results:
        for p in result.phases:
            lines.append(
                f"{result.backend:<10} {p.name:<22} {p.clients:>7} {len(p.outcomes):>8} {p.errors:>6} {p.ok / p.seconds:>7.1f} "
                f"{p.percentile(50):>8.1f} {p.percentile(95):>8.1f} {p.percentile(99):>8.1f} {p.percentile(100):>8.1f}"
            )
        lines.append(
            f"{result.backend:<10} submits/s : /healthz/s at saturation = {result.ratio:.2f}; "
            f"jobs accepted {result.accepted}: {result.accepted - result.missing_in_database} in the database, "
            f"{result.accepted - result.missing_in_queue} in the queue, {result.twice} queued twice, "
            f"{result.unanswered} recorded without a 202"
        )
    return "\n".join(lines)


def verdict(result: BackendResult, rate_label: str) -> str:
    open_phase = result.phase(rate_label)
    checks = [
        (f"p95 <= {TARGET_P95_MS:g} ms", open_phase.percentile(95) <= TARGET_P95_MS),
        (f"p99 <= {TARGET_P99_MS:g} ms", open_phase.percentile(99) <= TARGET_P99_MS),
        ("0 errors", all(p.errors == 0 for p in result.phases)),
        ("every job in database and queue", not result.lost),
        (f"submits/s >= {TARGET_RATIO:g} x /healthz/s", result.ratio >= TARGET_RATIO),
    ]
    return f"{result.backend:<10} targets: " + ", ".join(f"{name} {'yes' if ok else 'NO'}" for name, ok in checks)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="sqlite,postgres", help="comma list of sqlite, postgres")
    parser.add_argument("--clients", type=int, default=100, help="open-loop clients")
    parser.add_argument("--rate", type=float, default=1.0, help="submits per second per open-loop client")
    parser.add_argument("--duration", type=float, default=60.0, help="open-loop seconds")
    parser.add_argument("--saturation-clients", type=int, default=100)
    parser.add_argument("--saturation-seconds", type=float, default=20.0, help="seconds of each saturation run")
    parser.add_argument("--postgres-url", default=os.environ.get("OCR_TEST_DATABASE_URL", DEFAULT_POSTGRES),
                        help="a PostgreSQL server (URL of any database on it) where a database may be created and dropped")  # fmt: skip
    parser.add_argument("--keep-logs", metavar="DIR", help="copy the API's and Redis's logs here")
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if not backends or set(backends) - {"sqlite", "postgres"}:
        parser.error("--backends takes sqlite and/or postgres")
    if min(args.clients, args.saturation_clients) < 1 or min(args.rate, args.duration, args.saturation_seconds) <= 0:
        parser.error("clients, rate and durations must be positive")
    if args.clients * args.rate * args.duration > 1_000_000:
        parser.error("bounded: at most a million open-loop requests")
    args.backends = backends
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = []
    for backend in args.backends:
        print(f"submit_load: {backend} ...", file=sys.stderr, flush=True)
        results.append(run_backend(backend, args))
    print(table(results))
    label = f"open loop {args.clients * args.rate:g}/s"
    for result in results:
        print(verdict(result, label))
        for sample in result.error_samples[:5]:
            print(f"{result.backend:<10} error: {sample}")
    return 1 if any(r.lost or any(p.errors for p in r.phases) for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
