"""The chaos test behind `make chaos`: 200 jobs from 20 clients to 2 worker processes while the
platform's parts are killed and restarted. Loopback only, bounded in time.

scripts/chaos.sh starts a Redis and a PostgreSQL of the run's own (on spare ports, under
var/chaos/) and runs this, which starts the API and two Celery workers (one pool process
each), submits the jobs at a steady pace, and meanwhile:

  a) kill -9 a whole worker while it reads a page (then starts it again, as a supervisor would);
  b) kill -9 the pool process that reads a page (its worker must fork a new one);
  c) restarts Redis after SIGTERM, then after SIGKILL;
  d) stops PostgreSQL for 90 s.

Afterwards it waits a bounded time for every job to end and prints: jobs lost (accepted, then
unknown), stuck (not final within --settle seconds after the last fault), pages with two results
(a page number twice in a job's result, or counters that disagree with the page rows), missed or
repeated webhooks, and the longest recovery per fault (from the fault until the page in hand is
settled, or until pages are read again after the server came back). Exit status 1 when anything
was lost, stuck or doubled.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sqlalchemy import create_engine, text

from bench.load_test import Tracked, make_inputs, require_loopback
from bench.procs import ProcessGroup
from client.http import TERMINAL_STATUSES, ApiError, OcrClient

REPO_ROOT = Path(__file__).resolve().parent.parent
SERVICES = REPO_ROOT / "scripts" / "lib" / "services.sh"
QUEUES = "ocr.finish,ocr.jobs,ocr.pages"


def now() -> datetime:
    return datetime.now(UTC)


def log(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- the processes this run owns -------------------------------------------------------------------
class Owned(ProcessGroup):
    """A process started here in its own session, so kill -9 of its group takes its children too."""

    def __init__(self, name: str, argv: list[str], log_path: Path):
        self.name, self.argv, self.log_path = name, argv, log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> Owned:
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(self.argv, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def children(self) -> set[int]:
        try:
            return {int(c) for c in Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()}
        except (FileNotFoundError, ProcessLookupError):
            return set()


def services(function: str, *args: str) -> None:
    """Run a function of scripts/lib/services.sh: the servers restart exactly as chaos.sh started them."""
    subprocess.run(["bash", "-c", f'source "{SERVICES}" && {function} "$@"', "services", *args], check=True, cwd=REPO_ROOT)


# --- webhooks --------------------------------------------------------------------------------------
class Receiver:
    def __init__(self):
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    job = self.headers.get("X-OCR-Job-Id", "?")
                    receiver.calls[job] = receiver.calls.get(job, 0) + 1
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


# --- faults ----------------------------------------------------------------------------------------
@dataclass
class Fault:
    name: str
    started: datetime | None = None
    ended: datetime | None = None  # when the server was back (restarts, outage)
    page_id: int | None = None  # the page in hand (kills)
    note: str = ""
    recovery_s: float | None = None


@dataclass
class Run:
    args: argparse.Namespace
    engine: object
    workers: list[Owned]
    jobs: list[Tracked]
    faults: list[Fault] = field(default_factory=list)
    webhooks: set[str] = field(default_factory=set)  # job ids submitted with a callback


def _db(run: Run, sql: str, **params):
    with run.engine.connect() as conn:
        return conn.execute(text(sql), params).all()


def page_in_hand(run: Run, timeout: float = 120) -> tuple[int, int, str]:
    """(page id, pool process pid, node name) of a page one of our workers is reading now."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            rows = _db(run, "SELECT current_page_id, pid, hostname FROM worker_heartbeats WHERE current_page_id IS NOT NULL")
        except Exception:
            rows = []
        for page_id, pid, hostname in rows:
            status = _db(run, "SELECT status FROM pages WHERE id = :p", p=page_id)
            if status and status[0][0] == "running":
                return page_id, pid, hostname
        time.sleep(0.2)
    raise RuntimeError("no page was being read")


def kill_worker_mid_page(run: Run, fault: Fault) -> None:
    page_id, _pid, hostname = page_in_hand(run)
    worker = next(w for w in run.workers if hostname.startswith(w.name + "@"))
    fault.started, fault.page_id = now(), page_id
    worker.kill9()
    fault.note = f"{worker.name}, page {page_id}"
    time.sleep(3)  # a supervisor (systemd, docker) brings the worker back
    worker.start()


def kill_pool_child_mid_page(run: Run, fault: Fault) -> None:
    deadline = time.monotonic() + 120
    while True:
        page_id, pid, hostname = page_in_hand(run)
        owners = [w for w in run.workers if pid in w.children()]
        if owners:  # only ever a process of ours
            break
        if time.monotonic() > deadline:
            raise RuntimeError("no pool process of ours was reading a page")
        time.sleep(0.2)
    fault.started, fault.page_id = now(), page_id
    os.kill(pid, signal.SIGKILL)
    fault.note = f"pid {pid} of {owners[0].name}, page {page_id}"


def restart_redis(run: Run, fault: Fault, sig: signal.Signals) -> None:
    pid = int((Path(run.args.redis_dir) / "redis.pid").read_text())
    fault.started = now()
    os.kill(pid, sig)
    for _ in range(300):
        if not Path(f"/proc/{pid}").exists():
            break
        time.sleep(0.1)
    services("start_redis", str(run.args.redis_port), run.args.redis_dir)
    fault.ended = now()


def stop_postgres(run: Run, fault: Fault) -> None:
    fault.started = now()
    services("stop_postgres", run.args.pg_dir)
    time.sleep(run.args.pg_outage)
    services("start_postgres", str(run.args.pg_port), run.args.pg_dir)
    fault.ended = now()
    run.engine.dispose()


def inject_faults(run: Run) -> None:
    plan = [
        ("kill -9 worker mid-page", kill_worker_mid_page),
        ("kill -9 pool child mid-page", kill_pool_child_mid_page),
        ("Redis restart after SIGTERM", lambda r, f: restart_redis(r, f, signal.SIGTERM)),
        ("Redis restart after SIGKILL", lambda r, f: restart_redis(r, f, signal.SIGKILL)),
        (f"PostgreSQL stopped {run.args.pg_outage:.0f} s", stop_postgres),
    ]
    time.sleep(run.args.first_fault)
    for name, inject in plan:
        fault = Fault(name)
        run.faults.append(fault)
        log(f"fault: {name}")
        inject(run, fault)
        log(f"fault injected: {name} {fault.note}".rstrip())
        # Each fault's recovery is measured on its own: the next waits until this one is over (bounded).
        deadline = time.monotonic() + run.args.recovery_wait
        while not measure_recovery(fault, run) and time.monotonic() < deadline:
            time.sleep(1)
        log(f"recovered from {name} after {fault.recovery_s:.1f} s" if fault.recovery_s else f"{name}: not recovered yet")
        time.sleep(run.args.fault_gap)


def measure_recovery(fault: Fault, run: Run) -> bool:
    """Sets fault.recovery_s once the page in hand is settled, or pages are read again after the restart."""
    try:
        if fault.page_id is not None:
            rows = _db(
                run, "SELECT finished_at FROM pages WHERE id = :p AND status IN ('done','failed','cancelled')", p=fault.page_id
            )
        else:
            rows = _db(run, "SELECT min(finished_at) FROM pages WHERE finished_at > :t", t=fault.ended)
    except Exception:  # the database of the run may be the thing that is down
        return False
    if rows and rows[0][0] is not None:
        fault.recovery_s = (rows[0][0] - fault.started).total_seconds()
    return fault.recovery_s is not None


# --- clients ---------------------------------------------------------------------------------------
def run_client(client: OcrClient, mine: list[Tracked], tag: str, args, receiver: Receiver, run: Run) -> None:
    rng = random.Random(mine[0].index if mine else 0)
    for job in mine:
        time.sleep(rng.uniform(0.5, 2 * args.pace))
        callback = receiver.url if job.index % 5 == 0 else None
        job.submitted_at = time.monotonic()
        give_up = time.monotonic() + args.submit_patience
        while job.job_id is None:
            try:
                job.job_id = client.submit([(job.name, job.content)], client_request_token=job.token, job_tag=tag,
                                           callback_url=callback).job_id  # fmt: skip
            except ApiError as exc:
                job.error = f"submit: {exc}"
                if time.monotonic() > give_up:
                    break
                time.sleep(2)
        if job.job_id and callback:
            run.webhooks.add(job.job_id)


def poll_until_final(client: OcrClient, jobs: list[Tracked], deadline: float) -> None:
    pending = [j for j in jobs if j.job_id]
    while pending and time.monotonic() < deadline:
        for job in list(pending):
            try:
                view = client.job(job.job_id)
            except ApiError as exc:
                job.error = f"poll: {exc}"
                if exc.status == 404:
                    job.status = "lost"
                    pending.remove(job)
                continue
            job.status = view.status
            if view.terminal:
                job.finished_at = time.monotonic()
                pending.remove(job)
        if pending:
            time.sleep(1)


# --- verdict ---------------------------------------------------------------------------------------
def doubled_pages(run: Run, client: OcrClient) -> list[str]:
    problems = []
    for job in run.jobs:
        if job.status not in ("succeeded", "partial_success"):
            continue
        body = json.loads(client.result(job.job_id, "json"))
        numbers = [int(p["page_number"]) for p in body.get("pages", [])]
        if len(numbers) != len(set(numbers)):
            problems.append(f"{job.job_id}: result has page numbers {numbers}")
    counted = _db(
        run,
        "SELECT j.id, j.pages_done, j.pages_failed, j.pages_cancelled, j.pages_total,"
        " count(*) FILTER (WHERE p.status = 'done'), count(*) FILTER (WHERE p.status = 'failed'),"
        " count(*) FILTER (WHERE p.status = 'cancelled'), count(p.id)"
        " FROM jobs j LEFT JOIN pages p ON p.job_id = j.id GROUP BY j.id",
    )
    for job_id, done, failed, cancelled, total, rows_done, rows_failed, rows_cancelled, rows in counted:
        if (done, failed, cancelled, total) != (rows_done, rows_failed, rows_cancelled, rows):
            problems.append(
                f"{job_id}: counters {done}/{failed}/{cancelled} of {total}, rows {rows_done}/{rows_failed}/{rows_cancelled} of {rows}"
            )
    return problems


def report(run: Run, receiver: Receiver, doubled: list[str], wall: float) -> bool:
    jobs = run.jobs
    accepted = [j for j in jobs if j.job_id]
    lost = [j for j in accepted if j.status == "lost"]
    stuck = [j for j in accepted if j.status not in TERMINAL_STATUSES and j.status != "lost"]
    refused = [j for j in jobs if not j.job_id]
    statuses: dict[str, int] = {}
    for j in accepted:
        statuses[j.status] = statuses.get(j.status, 0) + 1
    missed = [j for j in run.webhooks if receiver.calls.get(j, 0) == 0]
    repeated = sum(1 for j in run.webhooks if receiver.calls.get(j, 0) > 1)

    print()
    print(f"make chaos: {len(jobs)} jobs ({sum(j.pages == 2 for j in jobs)} two-page PDFs) from {run.args.clients} clients, "
          f"2 worker processes, {wall / 60:.1f} min")  # fmt: skip
    print(f"{'fault':34} {'at (s)':>7} {'recovery (s)':>13}  detail")
    t0 = run.args.started_at
    for f in run.faults:
        at = (f.started - t0).total_seconds() if f.started else float("nan")
        rec = f"{f.recovery_s:.1f}" if f.recovery_s is not None else "n/a"
        print(f"{f.name:34} {at:7.1f} {rec:>13}  {f.note}")
    print()
    rows = [
        ("jobs accepted", len(accepted)),
        ("jobs lost", len(lost)),
        (f"jobs stuck (not final {run.args.settle:.0f} s after the last fault)", len(stuck)),
        ("pages with two results", len(doubled)),
        ("webhooks expected / missed / repeated", f"{len(run.webhooks)} / {len(missed)} / {repeated}"),
        ("submissions never accepted", len(refused)),
        ("final statuses", ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))),
    ]
    for name, value in rows:
        print(f"{name:60} {value}")
    for j in (lost + stuck)[:10]:
        print(f"  {j.status}: {j.name} job {j.job_id} {j.error or ''}")
    for line in doubled[:10]:
        print(f"  two results: {line}")
    return not lost and not stuck and not doubled


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--redis-port", type=int, required=True)
    parser.add_argument("--redis-dir", required=True)
    parser.add_argument("--pg-port", type=int, required=True)
    parser.add_argument("--pg-dir", required=True)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--pace", type=float, default=6.0, help="mean seconds between one client's submissions")
    parser.add_argument("--first-fault", type=float, default=20.0)
    parser.add_argument("--fault-gap", type=float, default=5.0)
    parser.add_argument("--recovery-wait", type=float, default=150.0, help="longest wait for one fault's recovery")
    parser.add_argument("--pg-outage", type=float, default=90.0)
    parser.add_argument("--settle", type=float, default=300.0, help="seconds after the last fault every job must end in")
    parser.add_argument("--submit-patience", type=float, default=240.0)
    args = parser.parse_args(argv)

    url = f"http://127.0.0.1:{args.port}"
    require_loopback(url)
    run_dir = Path(args.run_dir)
    bin_dir = Path(sys.executable).parent
    wall = time.monotonic()
    engine = create_engine(os.environ["OCR_DATABASE_URL"], pool_pre_ping=True)
    api = Owned("api", [str(bin_dir / "gunicorn"), *os.environ.get("GUNICORN_EXTRA", "").split(), "--bind", f"127.0.0.1:{args.port}",
                        "--workers", "2", "--threads", "8", "--timeout", "120", "api.app:create_app()"], run_dir / "api.log")  # fmt: skip
    workers = [
        Owned(
            f"chaos{n}-{os.getpid()}",
            [
                str(bin_dir / "celery"),
                "-A",
                "worker.celery_app",
                "worker",
                "-Q",
                QUEUES,
                "--concurrency",
                "1",
                "--loglevel",
                "INFO",
                "-n",
                f"chaos{n}-{os.getpid()}@%h",
            ],
            run_dir / f"worker{n}.log",
        )  # fmt: skip
        for n in (1, 2)
    ]
    receiver = Receiver()
    owned = [api, *workers]
    try:
        for proc in owned:
            proc.start()
        client = OcrClient(url, args.api_key, timeout=60.0, max_retries=3, max_backoff=5.0)
        deadline = time.monotonic() + 180
        while True:
            try:
                client.request("GET", "/healthz", retry=False)
                break
            except ApiError:
                if time.monotonic() > deadline:
                    raise SystemExit("chaos: the API did not come up; see " + str(run_dir / "api.log")) from None
                time.sleep(0.5)
        for n in (1, 2):  # the first fault needs pages being read
            log_path = run_dir / f"worker{n}.log"
            while b" ready." not in log_path.read_bytes():
                if time.monotonic() > deadline:
                    raise SystemExit(f"chaos: worker {n} did not come up; see {log_path}")
                time.sleep(0.5)

        run_id = uuid.uuid4().hex[:8]
        jobs = make_inputs(args.jobs, 10, f"chaos-{run_id}")
        run = Run(args=args, engine=engine, workers=workers, jobs=jobs)
        args.started_at = now()
        log(f"{len(jobs)} jobs from {args.clients} clients to {url}; logs in {run_dir}")
        shares = [jobs[i :: args.clients] for i in range(args.clients)]
        clients = [
            threading.Thread(target=run_client, args=(client, share, f"chaos-{run_id}", args, receiver, run)) for share in shares
        ]
        for t in clients:
            t.start()
        inject_faults(run)
        log(f"last fault over; every job must end within {args.settle:.0f} s")
        settle_by = time.monotonic() + args.settle
        for t in clients:
            t.join(timeout=max(1.0, settle_by - time.monotonic()))
        poll_until_final(client, jobs, settle_by)
        time.sleep(min(20.0, max(0.0, settle_by - time.monotonic())))  # the last webhooks are on their way
        for fault in run.faults:
            measure_recovery(fault, run)
        doubled = doubled_pages(run, client)
        ok = report(run, receiver, doubled, time.monotonic() - wall)
        return 0 if ok else 1
    finally:
        for proc in owned:
            proc.stop()
        receiver.server.shutdown()
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
