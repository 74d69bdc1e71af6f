"""The operations dashboard with 10,000 jobs: time its endpoints and its page load, and print the figures.

    python -m bench.dashboard_load [--jobs 10000] [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
                                   [--repeat 20] [--no-browser] [--explain]

A scratch database (SQLite in a temp dir by default, or a fresh schema in the
PostgreSQL named) gets ``--jobs`` jobs with their files and 1-5 pages each,
spread over the last two days (a share in the last hour, so the charts and
percentiles have work to do), mixed statuses, tags and keys. Then the API is
served from a thread (web.local_stack) and each dashboard endpoint is timed
over HTTP, and the dashboard is loaded in headless Chromium until its
figures, charts and job list are drawn. Nothing is asserted: figures are printed.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import requests
from sqlalchemy import insert, text

from web.local_stack import CHROMIUM_ARGS, chromium_path, local_stack

STAGES = ("rasterise", "orientation", "preprocess", "detection", "recognition")
STATUS_MIX = [
    ("succeeded", 0.82),
    ("partial_success", 0.05),
    ("failed", 0.05),
    ("cancelled", 0.03),
    ("running", 0.03),
    ("queued", 0.02),
]


def fill(db, jobs: int, seed: int = 11) -> dict:
    """Insert the jobs, files and pages in bulk; returns a few ids to query for."""
    from db.keys import create_key
    from db.models import Job, JobFile, Page

    rng = random.Random(seed)
    now = datetime.now(UTC)
    with db.session() as s:
        key_ids = [create_key(s, f"client-{i}").record.id for i in range(8)]
    statuses, weights = zip(*STATUS_MIX, strict=True)
    job_rows, file_rows, page_rows = [], [], []
    for n in range(jobs):
        job_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        status = rng.choices(statuses, weights)[0]
        # A tenth of the jobs in the last hour, the rest over two days.
        created = now - timedelta(seconds=rng.uniform(60, 3600) if n % 10 == 0 else rng.uniform(3600, 48 * 3600))
        pages = rng.randint(1, 5)
        final = status not in ("queued", "running")
        started = created + timedelta(seconds=rng.uniform(0.05, 3))
        finished = started + timedelta(seconds=pages * rng.uniform(1.5, 6)) if final else None
        failed = rng.randint(1, pages) if status in ("failed", "partial_success") else 0
        if status == "failed":
            failed = pages
        done = pages - failed if status in ("succeeded", "partial_success") else 0
        job_rows.append(
            {
                "id": job_id, "api_key_id": rng.choice(key_ids), "status": status, "lang": rng.choice(("mix", "zh", "en")),
                "detect_orientation": True, "outputs": "json,txt,pdf", "job_tag": f"batch-{n % 50}",
                "pages_total": pages if status != "queued" else 0, "pages_done": done, "pages_failed": failed,
                "pages_cancelled": pages if status == "cancelled" else 0, "webhook_attempts": 0,
                "error_code": "corrupt_file" if status == "failed" else None,
                "error_message": "page 1: The image is damaged or truncated." if status == "failed" else None,
                "created_at": created, "started_at": started if status != "queued" else None,
                "finished_at": finished, "updated_at": finished or started,
            }
        )  # fmt: skip
        file_rows.append(
            {"job_id": job_id, "position": 0, "filename": f"scan-{n}.pdf", "sha256": f"{n:064x}", "size_bytes": 200_000 * pages,
             "format": "pdf", "page_count": pages, "status": "ready"}
        )  # fmt: skip
    with db.session() as s:
        s.execute(insert(Job), job_rows)
        s.execute(insert(JobFile), file_rows)
        file_ids = dict(s.execute(text("SELECT job_id, id FROM job_files")).all())
    for job in job_rows:
        if job["status"] == "queued":
            continue
        total, failed = job["pages_total"], job["pages_failed"]
        for number in range(1, total + 1):
            is_failed = number <= failed
            if job["status"] == "running":
                status = "done" if number == 1 else "queued" if number > 2 else "running"
            elif job["status"] == "cancelled":
                status = "cancelled"
            else:
                status = "failed" if is_failed else "done"
            timings = {stage: round(rng.uniform(0.02, 1.5), 4) for stage in STAGES} if status == "done" else None
            if timings:
                timings["total"] = round(sum(timings.values()), 4)
            page_finished = (
                (job["started_at"] + timedelta(seconds=number * 2)) if status in ("done", "failed", "cancelled") else None
            )
            page_rows.append(
                {
                    "job_id": job["id"], "file_id": file_ids[job["id"]], "page_number": number, "source_page": number,
                    "status": status, "attempts": 1 if status in ("done", "failed", "running") else 0,
                    "error_code": "corrupt_file" if status == "failed" else None,
                    "error_message": "The image is damaged or truncated." if status == "failed" else None,
                    "timings": timings, "warnings": [],
                    "result": {"page_number": number, "width": 1654, "height": 2339, "angle": 0, "angle_confidence": 1.0,
                               "lines": [], "skew": 0.0, "timings": timings or {}, "warnings": []} if status == "done" else None,
                    "worker": "bench@host" if status != "queued" else None,
                    "created_at": job["started_at"], "started_at": job["started_at"] if status != "queued" else None,
                    "finished_at": page_finished,
                }
            )  # fmt: skip
    with db.session() as s:
        for start in range(0, len(page_rows), 5000):
            s.execute(insert(Page), page_rows[start : start + 5000])
        if s.get_bind().dialect.name == "postgresql":
            s.execute(text("ANALYZE"))
    some = job_rows[len(job_rows) // 2]
    return {"jobs": len(job_rows), "pages": len(page_rows), "job_id": some["id"], "key_id": key_ids[3]}


def timed(session: requests.Session, url: str, repeat: int) -> tuple[float, float, int]:
    times = []
    size = 0
    for _ in range(repeat):
        started = time.perf_counter()
        answer = session.get(url, timeout=60)
        times.append((time.perf_counter() - started) * 1000)
        answer.raise_for_status()
        size = len(answer.content)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.95))], size


def browser_loads(base: str, key: str, job_id: str, repeat: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    out: dict[str, list[float]] = {"dashboard": [], "job page": []}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        ctx = browser.new_context(viewport={"width": 1440, "height": 900})
        ctx.add_init_script(f"localStorage.setItem('ocr.apiKey', {key!r}); localStorage.setItem('ocr.uiLang', 'en');")
        page = ctx.new_page()
        for i in range(repeat + 1):  # the first load warms the caches; it is not counted
            started = time.perf_counter()
            page.goto(base + "/dashboard")
            page.wait_for_selector("#jobs-table tbody tr")
            page.wait_for_selector("#chart-throughput canvas")
            page.wait_for_selector("#stats .stat")
            if i:
                out["dashboard"].append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            page.goto(f"{base}/dashboard/jobs/{job_id}")
            page.wait_for_selector("#pages-table tbody tr")
            if i:
                out["job page"].append((time.perf_counter() - started) * 1000)
        browser.close()
    return out


def explain(db, dialect: str) -> None:
    """The plans of the dashboard's heaviest queries (PostgreSQL), to show they use the indexes."""
    if dialect != "postgresql":
        print("(--explain shows PostgreSQL plans; this run uses SQLite)")
        return
    queries = {
        "oldest waiting page": "SELECT job_id, page_number, created_at FROM pages WHERE status = 'queued' ORDER BY created_at LIMIT 1",
        "pages per minute": "SELECT status, count(*) FROM pages WHERE status IN ('done', 'failed') "
        "AND finished_at >= now() - interval '1 hour' GROUP BY status",
        "jobs per minute": "SELECT status, count(*) FROM jobs WHERE status IN ('succeeded', 'partial_success', 'failed', "
        "'cancelled') AND finished_at >= now() - interval '1 hour' GROUP BY status",
        "stage times sample": "SELECT timings FROM pages WHERE status = 'done' AND finished_at >= now() - interval '1 hour' "
        "ORDER BY finished_at DESC LIMIT 2000",
        "job list page 1": "SELECT id FROM jobs ORDER BY created_at DESC, id DESC LIMIT 25",
        "job list by status": "SELECT id FROM jobs WHERE status = 'failed' ORDER BY created_at DESC LIMIT 25",
    }
    with db.session() as s:
        for name, sql in queries.items():
            plan = [row[0] for row in s.execute(text("EXPLAIN " + sql))]
            print(f"  {name}: {plan[0].strip()}" + "".join(f"\n      {p.strip()}" for p in plan[1:5]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.dashboard_load", description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=10_000)
    ap.add_argument("--database-url", help="PostgreSQL to make a scratch schema in (default: SQLite in a temp dir)")
    ap.add_argument("--repeat", type=int, default=20, help="requests per endpoint, page loads per page")
    ap.add_argument("--no-browser", action="store_true", help="time the endpoints only")
    ap.add_argument("--explain", action="store_true", help="print the query plans (PostgreSQL)")
    args = ap.parse_args(argv)

    with local_stack(args.database_url) as stack:
        from db.session import get_database

        db = get_database(stack.settings.database_url)
        dialect = db.engine.dialect.name
        started = time.perf_counter()
        made = fill(db, args.jobs)
        print(
            f"Scratch {dialect} database: {made['jobs']} jobs, {made['pages']} pages inserted in {time.perf_counter() - started:.1f} s"
        )
        if args.explain:
            explain(db, dialect)

        session = requests.Session()
        session.headers["X-API-Key"] = stack.admin_key
        base = stack.base_url
        since = (datetime.now(UTC) - timedelta(hours=6)).date().isoformat()
        endpoints = [
            ("dashboard HTML", "/dashboard"),
            ("overview (queues, workers, counts)", "/v1/admin/overview"),
            ("throughput, 60 one-minute buckets", "/v1/admin/throughput?minutes=60"),
            ("stage times p50/p95", "/v1/admin/stage-times?minutes=60"),
            ("job list, page 1", "/v1/admin/jobs?per_page=25"),
            ("job list, status=failed", "/v1/admin/jobs?status=failed&per_page=25"),
            ("job list, tag", "/v1/admin/jobs?tag=batch-7&per_page=25"),
            ("job list, key", f"/v1/admin/jobs?key_id={made['key_id']}&per_page=25"),
            ("job list, since a date", f"/v1/admin/jobs?created_after={since}&per_page=25"),
            ("job list, page 300", "/v1/admin/jobs?per_page=25&page=300"),
            ("job page data", f"/v1/admin/jobs/{made['job_id']}"),
            ("/metrics", "/metrics"),
        ]
        print(f"\nEndpoint times over HTTP on loopback ({args.repeat} requests each; werkzeug server, one process):")
        print(f"  {'endpoint':40} {'median ms':>10} {'p95 ms':>8} {'bytes':>8}")
        for name, path in endpoints:
            median, p95, size = timed(session, base + path, args.repeat)
            print(f"  {name:40} {median:10.1f} {p95:8.1f} {size:8d}")

        if not args.no_browser:
            loads = browser_loads(base, stack.admin_key, made["job_id"], max(3, args.repeat // 4))
            print("\nPage loads in headless Chromium (navigation until the figures, charts and tables are drawn):")
            for name, times in loads.items():
                print(f"  {name:40} median {statistics.median(times):7.0f} ms   max {max(times):7.0f} ms   ({len(times)} loads)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
