"""Pages/min with 1, 2, 4, ... worker processes on the same jobs (issue #13, item 5).

    python -m bench.scaling [--workers 1,2,4] [--pages 16] [--pages-per-job 4] [--json FILE]

It starts its own platform on loopback, as bench/submit_load.py does (and with its helpers): its
own redis-server on a free port, a fresh PostgreSQL database created in OCR_TEST_DATABASE_URL's
server (dropped afterwards) and the API under gunicorn (api/gunicorn_conf.py, one process). For
each worker count N it starts N Celery workers (``--concurrency 1`` each, OCR_TORCH_THREADS=1:
one inference thread per process), waits until each says it is ready (the time is measured),
warms them up with an N-page job (each process loads its networks on its first page; the run
checks that every process read one), then submits the same jobs, ``--pages`` rendered Debian
Reference pages (bench/render.py, zh and en in turn, grey PNG) in jobs of ``--pages-per-job``
files, and times from the first submit until the last page's finished_at. Then it stops those
workers before the next N. Printed per N: pages, seconds, pages/min, speed-up over the first N,
the mean and median of the pages' own read time (their timings' ``total``: rasterising and the
pipeline, as the worker measured it), how many pages each process read, and the machine's CPU
count and 1-minute load average just before the run.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.submit_load import DEFAULT_POSTGRES, Child, database, migrate_and_make_key, stack_env, start_api, start_redis

QUEUES = "ocr.finish,ocr.jobs,ocr.pages"
TERMINAL = {"succeeded", "partial_success", "failed", "cancelled"}


@dataclass
class Run:
    workers: int
    pages: int = 0
    seconds: float = 0.0
    pages_per_min: float = 0.0
    speedup: float = 1.0
    read_mean_s: float = 0.0
    read_median_s: float = 0.0
    ready_s: float = 0.0  # from starting the worker processes until every one logged "ready"
    warmup_s: float = 0.0
    load_before: float = 0.0
    pages_by_worker: dict[str, int] = field(default_factory=dict)
    failed_pages: int = 0
    problems: list[str] = field(default_factory=list)


# --- inputs ----------------------------------------------------------------------------------------
def page_pngs(count: int) -> list[bytes]:
    """``count`` distinct rendered Debian Reference pages (200 DPI, A4), zh and en in turn, grey PNG."""
    from bench.render import rendered_set

    half = (count + 1) // 2
    sets = [rendered_set(lang, "clean", half).samples for lang in ("zh", "en")]
    ordered = [s for pair in zip(*sets, strict=False) for s in pair][:count]
    if len(ordered) < count:
        raise SystemExit(f"scaling: only {len(ordered)} rendered pages are available, {count} asked for")
    out = []
    for sample in ordered:
        buf = io.BytesIO()
        sample.image().convert("L").save(buf, "PNG")
        out.append(buf.getvalue())
    return out


# --- workers ---------------------------------------------------------------------------------------
class Worker(Child):
    def __init__(self, env: dict, log: Path, name: str):
        argv = [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker", "-Q", QUEUES,
                "--concurrency", "1", "--loglevel", "INFO", "-n", f"{name}@%h",
                "--without-mingle", "--without-gossip"]  # fmt: skip
        super().__init__(argv, env, log)
        self.name = name

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"worker {self.name} exited with {self.proc.returncode}:\n{tail}")
        return b" ready." in self.log.read_bytes()


def start_workers(n: int, env: dict, workdir: Path, tag: str, timeout: float = 180) -> tuple[list[Worker], float]:
    started = time.monotonic()
    workers = [Worker(env, workdir / f"worker-{tag}-{i}.log", f"scale-{tag}-{i}") for i in range(n)]
    deadline = started + timeout
    while not all(w.ready() for w in workers):
        if time.monotonic() > deadline:
            for w in workers:
                w.stop()
            raise RuntimeError(f"{n} worker(s) not ready within {timeout:.0f} s; logs in {workdir}")
        time.sleep(0.1)
    return workers, time.monotonic() - started


# --- jobs ------------------------------------------------------------------------------------------
def submit(client, files: list[tuple[str, bytes]], token: str) -> str:
    return client.submit(files, client_request_token=token).job_id


def wait_jobs(client, job_ids: list[str], timeout: float) -> dict[str, str]:
    statuses: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    pending = list(job_ids)
    while pending and time.monotonic() < deadline:
        for job_id in list(pending):
            view = client.job(job_id)
            statuses[job_id] = view.status
            if view.status in TERMINAL:
                pending.remove(job_id)
        if pending:
            time.sleep(0.25)
    return statuses


def page_rows(database_url: str, job_ids: list[str]) -> list[tuple]:
    from db.models import Page
    from db.session import Database

    db = Database(database_url)
    try:
        with db.session() as s:
            rows = s.query(Page.status, Page.timings, Page.worker, Page.finished_at).filter(Page.job_id.in_(job_ids))
            return [tuple(r) for r in rows]
    finally:
        db.dispose()


def measure(n: int, env: dict, workdir: Path, client, pngs: list[bytes], per_job: int, run_id: str,
            timeout: float) -> Run:  # fmt: skip
    run = Run(workers=n)
    workers, run.ready_s = start_workers(n, env, workdir, f"{run_id}-{n}")
    try:
        # Warm-up: one page per process (prefetch 1, late acks: N idle processes take one message each).
        started = time.monotonic()
        warm = submit(client, [(f"warm-{i}.png", pngs[i % len(pngs)]) for i in range(n)], f"{run_id}-warm-{n}")
        wait_jobs(client, [warm], timeout)
        run.warmup_s = time.monotonic() - started
        readers = {r[2] for r in page_rows(env["OCR_DATABASE_URL"], [warm])}
        if len(readers) < n:
            run.problems.append(f"warm-up reached {len(readers)} of {n} processes (the others load models in the run)")

        run.load_before = os.getloadavg()[0]
        first_submit = datetime.now(UTC)
        jobs = []
        for j in range(0, len(pngs), per_job):
            files = [(f"p{j + k + 1:02d}.png", png) for k, png in enumerate(pngs[j : j + per_job])]
            jobs.append(submit(client, files, f"{run_id}-{n}-{j}"))
        statuses = wait_jobs(client, jobs, timeout)
        not_done = [j for j in jobs if statuses.get(j) not in TERMINAL]
        if not_done:
            run.problems.append(f"{len(not_done)} job(s) not finished within {timeout:.0f} s")
        rows = page_rows(env["OCR_DATABASE_URL"], jobs)
    finally:
        for w in workers:
            w.stop()
    done = [r for r in rows if r[0] == "done"]
    run.failed_pages = len(rows) - len(done)
    run.pages = len(done)
    if done:
        last = max(r[3] for r in done)
        last = last if last.tzinfo else last.replace(tzinfo=UTC)
        run.seconds = (last - first_submit).total_seconds()
        run.pages_per_min = run.pages / run.seconds * 60
        reads = [float(r[1]["total"]) for r in done if r[1] and "total" in r[1]]
        run.read_mean_s = statistics.fmean(reads) if reads else 0.0
        run.read_median_s = statistics.median(reads) if reads else 0.0
        for r in done:
            name = (r[2] or "?").split("@")[0].rsplit("-", 1)[-1]
            run.pages_by_worker[name] = run.pages_by_worker.get(name, 0) + 1
    return run


def table(runs: list[Run]) -> list[str]:
    lines = [
        "| workers | pages | seconds | pages/min | speed-up | read s/page (mean / median) | pages per process | load avg before |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        spread = "/".join(str(v) for _, v in sorted(r.pages_by_worker.items()))
        lines.append(
            f"| {r.workers} | {r.pages} | {r.seconds:.1f} | {r.pages_per_min:.1f} | {r.speedup:.2f}x | "
            f"{r.read_mean_s:.2f} / {r.read_median_s:.2f} | {spread} | {r.load_before:.2f} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="1,2,4", help="worker process counts, comma-separated")
    parser.add_argument("--pages", type=int, default=16)
    parser.add_argument("--pages-per-job", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds a run may take before it counts as failed")
    parser.add_argument("--postgres-url", default=os.environ.get("OCR_TEST_DATABASE_URL", DEFAULT_POSTGRES))
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--keep-logs", type=Path, help="copy the API, Redis and worker logs into this folder")
    args = parser.parse_args(argv)
    counts = [int(x) for x in args.workers.split(",") if x.strip()]
    if not counts or min(counts) < 1 or args.pages < 1 or args.pages_per_job < 1:
        parser.error("--workers, --pages and --pages-per-job must be positive")

    from client.http import OcrClient

    pngs = page_pngs(args.pages)
    run_id = uuid.uuid4().hex[:8]
    started = datetime.now(UTC)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="scaling-") as tmp:
        workdir = Path(tmp)
        redis_server, broker = start_redis(workdir)
        api = None
        try:
            with database("postgres", workdir, args.postgres_url) as database_url:
                env = stack_env(
                    database_url, broker, workdir, OCR_TORCH_THREADS="1", OCR_API_WORKERS="1", OCR_DEFAULT_RATE_LIMIT="0"
                )
                key = migrate_and_make_key(env)
                api, port = start_api(env, workdir)
                client = OcrClient(f"http://127.0.0.1:{port}", key, timeout=60.0)
                for n in counts:
                    run = measure(n, env, workdir, client, pngs, args.pages_per_job, run_id, args.timeout)
                    runs.append(run)
                    print(f"scaling: {n} worker(s): {run.pages} pages in {run.seconds:.1f} s "
                          f"({run.pages_per_min:.1f} pages/min), ready in {run.ready_s:.1f} s", flush=True)  # fmt: skip
                api.stop()
        finally:
            if api is not None:
                api.stop()
            redis_server.stop()
            if args.keep_logs:
                args.keep_logs.mkdir(parents=True, exist_ok=True)
                for log in workdir.glob("*.log"):
                    (args.keep_logs / log.name).write_bytes(log.read_bytes())

    base = runs[0].pages_per_min if runs and runs[0].pages_per_min else 0.0
    for r in runs:
        r.speedup = r.pages_per_min / base if base else 0.0
    print()
    print(f"{os.cpu_count()} CPUs; {args.pages} pages in jobs of {args.pages_per_job}; started {started:%Y-%m-%d %H:%M} UTC")
    print("\n".join(table(runs)))
    problems = [f"{r.workers} worker(s): {p}" for r in runs for p in r.problems]
    problems += [f"{r.workers} worker(s): {r.failed_pages} page(s) not done" for r in runs if r.failed_pages]
    for p in problems:
        print(f"PROBLEM {p}")
    if args.json:
        args.json.write_text(json.dumps({"cpus": os.cpu_count(), "started": started.isoformat(),
                                         "runs": [asdict(r) for r in runs], "problems": problems}, indent=1))  # fmt: skip
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
