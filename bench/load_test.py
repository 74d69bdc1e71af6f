"""Loopback load test of a running OCR API: N jobs from C concurrent clients, then checks that
none was lost or duplicated, and prints throughput and time-to-result.

    python -m bench.load_test --url http://127.0.0.1:8000 --api-key KEY [--jobs 200] [--clients 20]

`make loadtest` starts its own API and two worker processes on spare ports and runs this.

Each client submits its share of the jobs (distinct small rendered pages; every --pdf-every-th
job a two-page PDF), then polls its jobs until they end. Afterwards:
  - lost:        every job reached a terminal status before the deadline;
  - duplicated:  job ids are unique, resubmitting with a used client_request_token answers the
                 same job, and listing the run's tag shows exactly our jobs;
  - pages:       each succeeded job's JSON result holds pages 1..pages_total exactly once.
Bounded: a fixed number of jobs, a wall-clock deadline, loopback addresses only.
"""

from __future__ import annotations

import argparse
import io
import ipaddress
import json
import random
import socket
import statistics
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from PIL import Image, ImageDraw, ImageFont

from client.http import TERMINAL_STATUSES, ApiError, OcrClient

FONT_CANDIDATES = [
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
]
WORDS = ["发票", "合同", "报告", "目录", "申请", "数据", "invoice", "report", "total", "page", "number", "2026"]


@dataclass
class Tracked:
    index: int
    name: str
    content: bytes
    pages: int
    token: str
    job_id: str | None = None
    submitted_at: float | None = None
    finished_at: float | None = None
    status: str | None = None
    error: str | None = None


@dataclass
class Report:
    jobs: list[Tracked]
    started: float
    submitted: float
    ended: float
    problems: list[str] = field(default_factory=list)
    resubmits_same: int = 0
    resubmits: int = 0
    pages_exact: int = 0
    pages_checked: int = 0
    listed: int = 0


# --- inputs --------------------------------------------------------------------------------------


def _font(size: int) -> ImageFont.ImageFont:
    for path in FONT_CANDIDATES:
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default()


def render_page(text: str, font: ImageFont.ImageFont) -> Image.Image:
    image = Image.new("RGB", (900, 160), "white")
    ImageDraw.Draw(image).text((30, 50), text, fill="black", font=font)
    return image


def make_inputs(n_jobs: int, pdf_every: int, run_id: str, seed: int = 7) -> list[Tracked]:
    """Distinct pages (so input de-duplication cannot shortcut anything), a PDF every pdf_every jobs."""
    rng = random.Random(seed)
    font = _font(40)
    jobs = []
    for i in range(n_jobs):
        texts = [f"{i:04d} " + " ".join(rng.choice(WORDS) for _ in range(4)) + f" {p + 1}" for p in range(2)]
        buf = io.BytesIO()
        if pdf_every and i % pdf_every == pdf_every - 1:
            first, second = (render_page(t, font) for t in texts)
            first.save(buf, "PDF", save_all=True, append_images=[second], resolution=100.0)
            name, pages = f"load-{i:04d}.pdf", 2
        else:
            render_page(texts[0], font).save(buf, "PNG")
            name, pages = f"load-{i:04d}.png", 1
        jobs.append(Tracked(i, name, buf.getvalue(), pages, token=f"{run_id}-{i}"))
    return jobs


# --- running -------------------------------------------------------------------------------------


def require_loopback(url: str) -> None:
    host = urlsplit(url).hostname or ""
    addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    if not addresses or not all(ipaddress.ip_address(a).is_loopback for a in addresses):
        raise SystemExit(f"load_test: refusing {url}: the load test only targets loopback addresses")


def submit_jobs(client: OcrClient, mine: list[Tracked], tag: str) -> None:
    """Submit each job once; its client_request_token makes the client's retries answer the same job."""
    for job in mine:
        job.submitted_at = time.monotonic()
        try:
            job.job_id = client.submit([(job.name, job.content)], client_request_token=job.token, job_tag=tag).job_id
        except ApiError as exc:
            job.error = f"submit: {exc}"


def run_client(client: OcrClient, mine: list[Tracked], tag: str, deadline: float, poll: float) -> None:
    """One client: submit its jobs, then poll them until they end or the deadline passes."""
    submit_jobs(client, mine, tag)
    pending = [j for j in mine if j.job_id]
    while pending and time.monotonic() < deadline:
        for job in list(pending):
            try:
                view = client.job(job.job_id)
            except ApiError as exc:
                job.error = f"poll: {exc}"
                continue
            job.status = view.status
            if view.terminal:
                job.finished_at = time.monotonic()
                pending.remove(job)
        if pending:
            time.sleep(poll)


def _result_pages(body: dict) -> list[int]:
    document = body.get("result", body.get("document", body))
    return [int(p["page_number"]) for p in document.get("pages", [])]


def verify(client: OcrClient, report: Report, tag: str, resubmit: int) -> None:
    jobs = report.jobs
    ids = [j.job_id for j in jobs if j.job_id]
    lost = [j for j in jobs if j.status not in TERMINAL_STATUSES]
    for j in lost:
        report.problems.append(f"lost: {j.name} job={j.job_id} status={j.status} {j.error or ''}".rstrip())
    if len(ids) != len(set(ids)):
        report.problems.append(f"duplicated: {len(ids) - len(set(ids))} job id(s) handed out twice")

    for job in random.Random(1).sample([j for j in jobs if j.job_id], min(resubmit, len(ids))):
        report.resubmits += 1
        again = client.submit([(job.name, job.content)], client_request_token=job.token, job_tag=tag)
        if again.job_id == job.job_id:
            report.resubmits_same += 1
        else:
            report.problems.append(f"duplicated: resubmitting {job.name} made job {again.job_id}, not {job.job_id}")

    listed = [j["job_id"] for j in client.iter_jobs(tag=tag, per_page=100)]
    report.listed = len(listed)
    if sorted(listed) != sorted(ids):
        extra, missing = set(listed) - set(ids), set(ids) - set(listed)
        report.problems.append(f"listing tag {tag}: {len(listed)} jobs, {len(extra)} unknown, {len(missing)} missing")

    for job in jobs:
        if job.status != "succeeded":
            continue
        report.pages_checked += 1
        pages = _result_pages(json.loads(client.result(job.job_id, "json")))
        if sorted(pages) == list(range(1, job.pages + 1)):
            report.pages_exact += 1
        else:
            report.problems.append(f"pages: {job.name} expected pages 1..{job.pages} once each, result has {pages}")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def print_report(report: Report, args: argparse.Namespace) -> None:
    jobs = report.jobs
    done = [j for j in jobs if j.finished_at is not None]
    latencies = sorted(j.finished_at - j.submitted_at for j in done)
    span = (max(j.finished_at for j in done) - report.started) if done else float("nan")
    statuses: dict[str, int] = {}
    for j in jobs:
        statuses[j.status or "not submitted"] = statuses.get(j.status or "not submitted", 0) + 1
    pages = sum(j.pages for j in done)
    print(f"load test: {len(jobs)} jobs ({sum(j.pages == 2 for j in jobs)} two-page PDFs), {args.clients} clients, {args.url}")
    print(f"  submitted in {report.submitted - report.started:.1f} s; last job ended {span:.1f} s after the first submit")
    print(f"  statuses: {', '.join(f'{n} {s}' for s, n in sorted(statuses.items()))}")
    if done:
        print(f"  throughput: {len(done) / span * 60:.1f} jobs/min, {pages / span * 60:.1f} pages/min")
        print(
            f"  time to result: p50 {percentile(latencies, 50):.1f} s, p95 {percentile(latencies, 95):.1f} s, max {latencies[-1]:.1f} s"
        )
    print(
        f"  checks: {sum(j.status not in TERMINAL_STATUSES for j in jobs)} lost; "
        f"{len(jobs) - len({j.job_id for j in jobs if j.job_id})} without a unique id; "
        f"resubmits answered the same job {report.resubmits_same}/{report.resubmits}; "
        f"listed by tag {report.listed}/{len(jobs)}; "
        f"page results exactly once {report.pages_exact}/{report.pages_checked}"
    )
    for problem in report.problems[:20]:
        print(f"  PROBLEM {problem}")
    if len(report.problems) > 20:
        print(f"  ... and {len(report.problems) - 20} more problems")
    print("PASS" if not report.problems else "FAIL")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--pdf-every", type=int, default=10, help="every k-th job is a two-page PDF (0: none)")
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds before unfinished jobs count as lost")
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between a client's polling rounds")
    parser.add_argument("--resubmit", type=int, default=10, help="jobs resubmitted with their token to check idempotency")
    parser.add_argument("--json", type=Path, help="also write the per-job figures here")
    args = parser.parse_args(argv)
    require_loopback(args.url)
    if args.jobs < 1 or args.clients < 1:
        parser.error("--jobs and --clients must be at least 1")

    run_id = f"load-{uuid.uuid4().hex[:8]}"
    jobs = make_inputs(args.jobs, args.pdf_every, run_id)
    client = OcrClient(args.url, args.api_key, timeout=60.0)
    client.health()

    started = time.monotonic()
    deadline = started + args.timeout
    shares = [jobs[i :: args.clients] for i in range(args.clients)]
    threads = [
        threading.Thread(target=run_client, args=(client, share, run_id, deadline, args.poll)) for share in shares if share
    ]
    for t in threads:
        t.start()
    # Submissions are done when every job has an id or an error; the threads go on polling.
    while any(j.job_id is None and j.error is None for j in jobs) and time.monotonic() < deadline:
        time.sleep(0.2)
    submitted = time.monotonic()
    for t in threads:
        t.join()
    report = Report(jobs, started, submitted, time.monotonic())
    verify(client, report, run_id, args.resubmit)
    print_report(report, args)
    if args.json:
        rows = [
            {"name": j.name, "pages": j.pages, "job_id": j.job_id, "status": j.status, "error": j.error}
            | {"seconds_to_result": None if j.finished_at is None else round(j.finished_at - j.submitted_at, 3)}
            for j in jobs
        ]
        args.json.write_text(json.dumps({"problems": report.problems, "jobs": rows}, indent=1))
    return 0 if not report.problems else 1


if __name__ == "__main__":
    sys.exit(main())
