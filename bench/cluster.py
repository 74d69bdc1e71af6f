"""The multi-host run behind `make cluster-test`: the platform across hosts, and one worker host lost mid-run.

scripts/cluster_test.sh builds the hosts (network namespaces on a private bridge, or separate
loopback addresses where namespaces are not allowed), starts PostgreSQL, Redis and an S3 server
(moto) on hosts of their own, migrates, makes an admin key and the bucket, writes the topology
to a JSON file and runs this on the client host. This then:

  1. starts the API (gunicorn) on the API host and a Celery worker on each worker host, each
     inside its host (``ip netns exec``), configured only with the other hosts' addresses;
  2. submits the jobs (distinct small pages, every tenth a two-page PDF) through the API;
  3. once a share of the pages is read and the victim host is in the middle of a page, kills
     every process of that host at once (SIGKILL to each pid ``ip netns pids`` lists; without
     namespaces, the process groups started on it), as if the machine had died;
  4. waits a bounded time for every job to end, and checks through the API and the S3 bucket
     listing that each succeeded with its page images and every output it asked for, that each
     result holds its pages exactly once, and which host read which page.

What it sees of the platform it sees as a client would, through the API (the admin views for
the workers' heartbeats and the pages' attempts) and the bucket, never the database. The
victim's pages come back by the reconciler (worker/reconciler.py: a running page of a node that
stopped beating is sent again) and by Redis handing back unacknowledged messages after the
visibility timeout (acks_late). Exit status 1 when a job did not succeed or anything is missing.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import boto3

from bench.chaos import QUEUES, Owned, poll_until_final
from bench.load_test import Tracked, make_inputs, submit_jobs
from client.http import TERMINAL_STATUSES, ApiError, OcrClient


def log(message: str) -> None:
    print(f"[cluster {time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class Host:
    name: str
    address: str
    netns: str | None  # None: the loopback fallback, where a host is an address and nothing more
    role: str
    procs: list[Owned] = field(default_factory=list)

    def argv(self, command: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.netns, *command] if self.netns else command

    def start(self, name: str, command: list[str], log_path: Path) -> Owned:
        proc = Owned(name, self.argv(command), log_path).start()
        self.procs.append(proc)
        return proc

    def pids(self) -> list[int]:
        """Every process on the host: in its network namespace, or (fallback) in the groups started on it."""
        if self.netns:
            out = subprocess.run(["ip", "netns", "pids", self.netns], capture_output=True, text=True, check=True).stdout
            return [int(p) for p in out.split()]
        groups = {p.proc.pid for p in self.procs if p.proc is not None}  # each was started as its own group
        return [pid for pid, pgrp in live_processes() if pgrp in groups]

    def unplug(self) -> None:
        """Take the host's link down: its connections end without a FIN or RST reaching the other hosts."""
        if not self.netns:
            raise SystemExit("cluster: --fault power-off needs network namespaces (loopback hosts share one link)")
        subprocess.run(["ip", "-n", self.netns, "link", "set", "eth0", "down"], check=True)

    def kill_everything(self) -> list[str]:
        """SIGKILL all of the host's processes at once, as a power cut would; their names."""
        killed: dict[int, str] = {}
        for _ in range(20):  # a process forked between listing and killing is caught by the next round
            pids = [p for p in self.pids() if p not in killed]
            if not pids:
                break
            for pid in pids:
                killed[pid] = process_name(pid)
                with contextlib.suppress(ProcessLookupError):  # it ended by itself meanwhile
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)
        for proc in self.procs:
            proc.proc.wait(timeout=30)  # reap what we started, so it is gone and not a zombie
        return [f"{pid} {name}" for pid, name in sorted(killed.items())]


def live_processes() -> list[tuple[int, int]]:
    """(pid, process group) of every process that is not a zombie."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()  # after "pid (comm)"
        except OSError:
            continue
        if fields[0] != "Z":
            found.append((int(entry.name), int(fields[2])))
    return found


def process_name(pid: int) -> str:
    """What a process is, for the report: 'celery worker (MainProcess)' rather than a bare pid."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        title = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"
    return f"{Path(argv[0].decode(errors='replace')).name} ({title})" if argv and argv[0] else title


def private_only(url: str) -> None:
    """The driver only talks to the hosts the script made: private addresses, never a real service."""
    host = urlsplit(url).hostname or ""
    if not ipaddress.ip_address(host).is_private:
        raise SystemExit(f"cluster: refusing {url}: not a private address of the test's hosts")


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


# --- the run ---------------------------------------------------------------------------------------
def wait_until(what: str, check, timeout: float, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except ApiError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"cluster: {what} not within {timeout:.0f} s")
        time.sleep(interval)


def overview(client: OcrClient) -> dict:
    return client.request("GET", "/v1/admin/overview", retry=False).json()


def node_rows(view: dict, node: str) -> list[dict]:
    return [w for w in view.get("workers", []) if w["hostname"] == node]


def submit_all(client: OcrClient, jobs: list[Tracked], tag: str, clients: int) -> None:
    """The jobs from ``clients`` concurrent clients, each submitting its share."""
    threads = [threading.Thread(target=submit_jobs, args=(client, jobs[i::clients], tag)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def bucket_keys(s3, bucket: str, prefix: str) -> set[str]:
    keys: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.update(o["Key"] for o in page.get("Contents", []))
    return keys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topology", required=True, help="JSON written by scripts/cluster_test.sh")
    parser.add_argument("--api-key", required=True, help="an admin key: the workers' and pages' views are admin views")
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--clients", type=int, default=5)
    parser.add_argument("--victim", default="worker2", help="the worker host killed mid-run")
    parser.add_argument("--kill-after", type=float, default=0.3, help="share of the pages read before the kill")
    parser.add_argument(
        "--fault",
        choices=("kill", "power-off"),
        default="kill",
        help="kill: SIGKILL the host's processes (its kernel still closes their connections); "
        "power-off: take its network link down first, so the others hear nothing, as when a machine loses power",
    )
    parser.add_argument("--timeout", type=float, default=420.0, help="seconds after the kill every job must end in")
    args = parser.parse_args(argv)

    # SIGTERM (make, a CI runner) must stop what this started, as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    topo = json.loads(Path(args.topology).read_text())
    hosts = {h["name"]: Host(h["name"], h["address"], h.get("netns"), h["role"]) for h in topo["hosts"]}
    api_host, workers = hosts["api"], [hosts[n] for n in ("worker1", "worker2")]
    victim = hosts[args.victim]
    url = f"http://{api_host.address}:{topo['api_port']}"
    private_only(url)
    private_only(os.environ["OCR_S3_ENDPOINT_URL"])
    run_dir = Path(args.run_dir)
    bin_dir = Path(sys.executable).parent
    t0 = time.monotonic()
    marks: list[tuple[str, float]] = []

    def mark(name: str) -> None:
        marks.append((name, time.monotonic() - t0))

    nodes = {w.name: f"ocr@{w.name}" for w in workers}
    try:
        api_host.start(
            "api",
            [str(bin_dir / "gunicorn"), *os.environ.get("GUNICORN_EXTRA", "").split(), "--bind", f"{api_host.address}:{topo['api_port']}",
             "--workers", "2", "--threads", "4", "--timeout", "120", "api.app:create_app()"],
            run_dir / "api.log",
        )  # fmt: skip
        for w in workers:
            w.start(
                w.name,
                [str(bin_dir / "celery"), "-A", "worker.celery_app", "worker", "-Q", QUEUES, "--concurrency", "1",
                 "--loglevel", "INFO", "-n", nodes[w.name]],
                run_dir / f"{w.name}.log",
            )  # fmt: skip
        client = OcrClient(url, args.api_key, timeout=60.0, max_retries=5, max_backoff=5.0)
        wait_until("the API answering on " + url, lambda: client.request("GET", "/healthz", retry=False), 180)
        mark("API answers")
        # A worker is up once its heartbeat reaches the database: it has the broker, the database and the models.
        wait_until(
            "both workers beating",
            lambda: all(any(r["online"] for r in node_rows(overview(client), n)) for n in nodes.values()),
            240,
        )
        mark("both workers beating")

        run_id = uuid.uuid4().hex[:8]
        jobs = make_inputs(args.jobs, 10, f"cluster-{run_id}")
        pages_total = sum(j.pages for j in jobs)
        log(f"submitting {len(jobs)} jobs ({pages_total} pages) from {args.clients} clients to {url}")
        submit_all(client, jobs, f"cluster-{run_id}", args.clients)
        mark(f"{sum(1 for j in jobs if j.job_id)} jobs accepted")

        # The kill: once a share of the pages is read and the victim is in the middle of one.
        def victim_mid_page():
            view = overview(client)
            done = sum(w["pages_done"] for w in view.get("workers", []))
            reading = [r["current_page"] for r in node_rows(view, nodes[victim.name]) if r["current_page"]]
            return reading[0] if done >= args.kill_after * pages_total and reading else None

        in_hand = wait_until(f"{victim.name} reading a page after {args.kill_after:.0%} of the pages", victim_mid_page, 600, 0.1)
        if args.fault == "power-off":
            victim.unplug()
        killed = victim.kill_everything()
        killed_at = time.monotonic()
        killed_wall = datetime.now().astimezone()
        mark(f"{victim.name} {'unplugged and killed' if args.fault == 'power-off' else 'killed'}")
        left = victim.pids()
        log(f"killed {len(killed)} processes of {victim.name} ({victim.address}) while it read page {in_hand['page_number']} "
            f"of job {in_hand['job_id']}: {', '.join(killed)}; processes left on it: {len(left)}")  # fmt: skip

        poll_until_final(client, jobs, killed_at + args.timeout)
        mark("every job ended" if all(j.status in TERMINAL_STATUSES for j in jobs if j.job_id) else "gave up waiting")
        ok = verdict(
            client, jobs, pages_total, topo, nodes, victim, in_hand, killed_wall, killed, left, marks, run_dir, args.fault
        )
        return 0 if ok else 1
    finally:
        for host in hosts.values():
            for proc in host.procs:
                proc.stop()


def sweep_lock_story(logs: dict[str, str], victim: str, killed_wall: datetime) -> str:
    """Who held the reconciler's lock when the victim died, and whether a live worker took it over."""
    taken = sorted(
        (datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").astimezone(), host)  # celery logs local time
        for host, text in logs.items()
        for m in re.finditer(r"^\[(\S+ \S+): \w+/[^\]]*\] Reconciler: process \d+ holds the sweep lock", text, re.M)
    )
    before = [host for at, host in taken if at <= killed_wall]
    after = [(at, host) for at, host in taken if at > killed_wall]
    if not before:
        return "nobody held it yet"
    if before[-1] != victim:
        return f"{before[-1]} held it, and sweeps on"
    if after:
        return f"{victim} held it; {after[0][1]} took it {(after[0][0] - killed_wall).total_seconds():.1f} s after the loss"
    return f"{victim} held it; nobody took it over before the end (its PostgreSQL session outlives the host)"


def verdict(client, jobs, pages_total, topo, nodes, victim, in_hand, killed_wall, killed, left, marks, run_dir, fault) -> bool:
    problems: list[str] = []
    bad_jobs: set[str] = set()

    def job_problem(job: Tracked, text: str) -> None:
        bad_jobs.add(job.name)
        problems.append(f"{job.name}: {text}")

    s3 = boto3.client("s3", endpoint_url=os.environ["OCR_S3_ENDPOINT_URL"])
    bucket, _, prefix = os.environ["OCR_STORAGE_URL"].removeprefix("s3://").partition("/")
    prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
    stored = bucket_keys(s3, bucket, prefix)
    statuses: dict[str, int] = {}
    by_node: dict[str, int] = {}
    retried, recovered = 0, None
    pages_seen = 0
    detail: dict = {}
    for job in jobs:
        if not job.job_id:
            job_problem(job, f"never accepted ({job.error})")
            continue
        statuses[job.status] = statuses.get(job.status, 0) + 1
        if job.status != "succeeded":
            job_problem(job, f"job {job.job_id} ended {job.status} {job.error or ''}".rstrip())
            continue
        detail = client.request("GET", f"/v1/admin/jobs/{job.job_id}").json()
        numbers = [int(p["page_number"]) for p in json.loads(client.result(job.job_id, "json"))["pages"]]
        if sorted(numbers) != list(range(1, job.pages + 1)):
            job_problem(job, f"result pages {numbers}, expected 1..{job.pages} once each")
        for page in detail["pages"]:
            pages_seen += 1
            by_node[page["worker"]] = by_node.get(page["worker"], 0) + 1
            retried += page["attempts"] > 1
            if page["status"] != "done":
                job_problem(job, f"page {page['page_number']} is {page['status']}")
            if (job.job_id, page["page_number"]) == (in_hand["job_id"], in_hand["page_number"]):
                recovered = (page, (parse_time(page["finished_at"]) - killed_wall).total_seconds())
        want = {f"{prefix}jobs/{job.job_id}/pages/{n:05d}.png" for n in range(1, job.pages + 1)}
        want |= {f"{prefix}jobs/{job.job_id}/result.{ext}" for ext in detail.get("outputs") or ()}
        if missing := sorted(want - stored):
            job_problem(job, f"not in s3://{bucket}: {', '.join(missing)}")
    if not detail.get("outputs"):
        problems.append("the job views name no outputs: the bucket check had nothing to look for")
    if pages_seen != pages_total:
        problems.append(f"{pages_seen} pages in the jobs, {pages_total} sent")
    if recovered is None:
        problems.append(f"the page {victim.name} held (job {in_hand['job_id']} page {in_hand['page_number']}) was not read again")
    elif recovered[0]["worker"] == nodes[victim.name]:
        problems.append(f"the page {victim.name} held is credited to the dead {victim.name}")
    if left:
        problems.append(f"{len(left)} processes still on {victim.name} after the kill")
    logs = {n: (run_dir / f"{n}.log").read_text(errors="replace") for n in nodes}
    resent = sum(len(re.findall(r"Reconciler: worker\.tasks\.run_page\(\d+\) was missing; sent again", t)) for t in logs.values())

    print()
    print(f"make cluster-test: {len(jobs)} jobs ({pages_total} pages) on {len(topo['hosts'])} hosts ({topo['mode']}), "
          f"{victim.name} lost mid-run ({fault})")  # fmt: skip
    print(f"{'at (s)':>7}  event")
    for name, at in marks:
        print(f"{at:7.1f}  {name}")
    print()
    rows = [
        ("final statuses", ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))),
        ("pages read, by worker host", ", ".join(f"{n.split('@')[-1]} {c}" for n, c in sorted(by_node.items(), key=str))),
        (f"processes of {victim.name} killed (SIGKILL)", len(killed)),
        (f"page {victim.name} held when killed",
         f"job {in_hand['job_id']} page {in_hand['page_number']}"
         + (f": read again by {recovered[0]['worker'].split('@')[-1]}, done {recovered[1]:.1f} s after the kill, "
            f"attempt {recovered[0]['attempts']}" if recovered else ": not read again")),
        ("pages read more than once (attempts > 1)", retried),
        ("pages the reconciler sent again (worker logs)", resent),
        ("the reconciler's sweep lock (worker logs)", sweep_lock_story(logs, victim.name, killed_wall)),
        (f"objects in s3://{bucket}/{prefix}", len(stored)),
        ("jobs checked: succeeded, pages once, images and outputs in S3", f"{len(jobs) - len(bad_jobs)} of {len(jobs)}"),
    ]  # fmt: skip
    for name, value in rows:
        print(f"{name:62} {value}")
    for line in problems[:20]:
        print(f"  PROBLEM {line}")
    print("PASS" if not problems else f"FAIL: {len(problems)} problem(s)")
    return not problems


if __name__ == "__main__":
    sys.exit(main())
