"""ocrctl: submit documents to the OCR platform and fetch their results from the command line.

    ocrctl submit scans/ --wait --out text/       # every image/PDF under scans/, one job each
    ocrctl status JOB_ID
    ocrctl result JOB_ID --format pdf -o page.pdf
    ocrctl list --status failed

Server: --url, or OCR_URL (default http://127.0.0.1:8000). Key: --api-key, or OCR_API_KEY, or the
file api_key in the data directory (var/api_key, written by `make run`).
Exit status: 0 when everything asked for succeeded, 1 when a job failed or a request was refused,
2 for a usage error.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

import click
from tqdm import tqdm

from core.errors import OcrError
from core.formats import BY_EXT, EXTENSIONS
from core.settings import get_settings

from .bulk import BASE_FORMATS, BulkSubmit, Outcome, SubmitOptions, summarise
from .http import JobView, OcrClient
from .inputs import InputFile, find_inputs, write_atomic

DEFAULT_URL = "http://127.0.0.1:8000"
JOB_STATUSES = ["queued", "running", "succeeded", "partial_success", "failed", "cancelling", "cancelled"]


def default_api_key() -> str | None:
    """The key `make run` saved: <data dir>/api_key, else ./var/api_key."""
    for path in (get_settings().data_dir / "api_key", Path("var/api_key")):
        try:
            key = path.read_text().strip()
        except OSError:
            continue
        if key:
            return key
    return None


class Context:
    def __init__(self, url: str, api_key: str | None, timeout: float, retries: int):
        self.url, self.api_key, self.timeout, self.retries = url, api_key, timeout, retries

    def client(self) -> OcrClient:
        key = self.api_key or default_api_key()
        if not key:
            raise click.UsageError("no API key: pass --api-key, set OCR_API_KEY, or run `make run` once (it saves var/api_key)")
        return OcrClient(self.url, key, timeout=self.timeout, max_retries=self.retries)


def fail(exc: Exception) -> NoReturn:
    click.echo(f"ocrctl: {exc}", err=True)
    sys.exit(1)


@click.group(help=__doc__.split("\n\n")[0])
@click.option("--url", envvar="OCR_URL", default=DEFAULT_URL, show_default=True, help="API base URL [env OCR_URL]")
@click.option("--api-key", envvar="OCR_API_KEY", help="API key [env OCR_API_KEY, else var/api_key]")
@click.option("--timeout", type=float, default=120.0, show_default=True, help="seconds per HTTP request")
@click.option(
    "--retries",
    type=click.IntRange(0),
    default=5,
    show_default=True,
    help="retries of a request on 429/503 or a dropped connection",
)
@click.version_option("0.1.0", prog_name="ocrctl")
@click.pass_context
def main(ctx: click.Context, url: str, api_key: str | None, timeout: float, retries: int) -> None:
    ctx.obj = Context(url, api_key, timeout, retries)


# --- submit ------------------------------------------------------------------------------------


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--lang", type=click.Choice(["zh", "en", "mix"]), help="language model (server default: mix)")
@click.option("--pages", help='page range for PDFs and multi-page TIFFs, e.g. "1-3,5"')
@click.option("--tag", "job_tag", help="a label to find the jobs by later (ocrctl list --tag)")
@click.option("--detect-orientation/--no-detect-orientation", default=None, help="rotate pages upright first (server default)")
@click.option("--callback-url", help="the server POSTs the finished job here (HMAC-signed)")
@click.option(
    "--pdf-text",
    type=click.Choice(["auto", "ocr", "keep"]),
    help="PDF pages with their own text: auto reads real text from it and OCRs the rest, ocr OCRs every page, "
    "keep never OCRs (server default: auto)",
)
@click.option("--wait", is_flag=True, help="wait for the jobs to finish and fetch their results")
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), help="with --wait: write <name>.txt and .json here"
)
@click.option(
    "--format",
    "extra_formats",
    multiple=True,
    type=click.Choice([ext for ext in EXTENSIONS if ext not in BASE_FORMATS]),
    help="with --out: also write <name>.hocr / <name>.pdf (searchable PDF); repeatable. Only what is written: "
    "the job makes the server's default outputs, so `ocrctl result` fetches any format later",
)
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True, help="files in flight at once")
@click.option("--wait-timeout", type=float, default=None, help="give up waiting for a job after this many seconds")
@click.option("--quiet", "-q", is_flag=True, help="no progress bar")
@click.pass_obj
def submit(
    obj: Context,
    paths: tuple[Path, ...],
    out_dir: Path | None,
    extra_formats: tuple[str, ...],
    concurrency: int,
    quiet: bool,
    **kw,
) -> None:
    """Send FILES_OR_DIRS (images, TIFFs, PDFs; directories are walked) as one job per file.

    Without --wait, prints "JOB_ID STATUS FILE" per file. With --wait, waits and prints the text, or
    with --out writes the results to files. Running the same command again is safe: each file and
    option set maps to the same job (client_request_token).
    """
    if out_dir is not None and not kw["wait"]:
        raise click.UsageError("--out needs --wait (results exist only once a job has finished)")
    try:
        items = find_inputs(paths)
    except FileNotFoundError as exc:
        raise click.UsageError(str(exc)) from exc
    if not items:
        raise click.UsageError("no images or PDFs found in " + ", ".join(map(str, paths)))

    formats = tuple(dict.fromkeys(BASE_FORMATS + extra_formats))
    options = SubmitOptions(formats=formats, out_dir=out_dir, **kw)
    client = obj.client()
    bar = tqdm(disable=True if quiet else None, file=sys.stderr, dynamic_ncols=True)
    progress = Progress(bar, files=len(items), in_pages=options.wait)

    try:
        outcomes = BulkSubmit(client, options, on_done=progress.done, on_progress=progress.update).run(items, concurrency)
    except KeyboardInterrupt:
        bar.close()
        click.echo("\ninterrupted: run the same command again to pick up the same jobs", err=True)
        sys.exit(130)
    bar.close()

    _report(outcomes, options)
    # Without --wait, success means every file was accepted; with it, that every job succeeded.
    failed = any(not o.ok for o in outcomes) if options.wait else any(o.job_id is None for o in outcomes)
    sys.exit(1 if failed else 0)


class Progress:
    """submit's progress bar. With --wait it counts pages (read, failed or cancelled) of the pages the
    jobs have so far, so one long PDF moves it too; its total grows as workers split the files. Without
    --wait it counts the files sent, as there are no pages to follow."""

    def __init__(self, bar: tqdm, files: int, in_pages: bool):
        self.bar, self.files, self.in_pages = bar, files, in_pages
        self.tally = {"ok": 0, "failed": 0}
        self.pages: dict[Path, tuple[int, int]] = {}  # per file: its job's (settled, total) pages
        bar.unit = "page" if in_pages else "file"
        bar.total = None if in_pages else files  # None: "N page(s)" until a job knows its pages
        bar.refresh()

    def update(self, item: InputFile, view: JobView) -> None:
        """Every answer about a file's job (BulkSubmit's on_progress)."""
        if not self.in_pages:
            return
        body = view.body
        settled = sum(int(body.get(k) or 0) for k in ("pages_done", "pages_failed", "pages_cancelled"))
        self.pages[item.path] = (settled, int(body.get("pages_total") or 0))
        self._show()

    def done(self, outcome: Outcome) -> None:
        """A file's end (BulkSubmit's on_done)."""
        good = outcome.ok if self.in_pages else outcome.job_id is not None
        self.tally["ok" if good else "failed"] += 1
        finished = self.tally["ok"] + self.tally["failed"]
        self.bar.set_postfix({"files": f"{finished}/{self.files}", **self.tally}, refresh=False)
        if self.in_pages:
            self._show()
        else:
            self.bar.update(1)
        if not good:
            self.bar.write(f"{outcome.item.path}: {outcome.status}: {outcome.message or ''}".rstrip(": "), file=sys.stderr)

    def _show(self) -> None:
        total = sum(t for _, t in self.pages.values())
        self.bar.total = total or None
        self.bar.n = sum(s for s, _ in self.pages.values())
        self.bar.refresh()


def _report(outcomes: list[Outcome], options: SubmitOptions) -> None:
    if not options.wait:
        for o in outcomes:
            click.echo(f"{o.job_id or '-'}\t{o.status}\t{o.item.path}")
    elif options.out_dir is None:
        texts = [o for o in outcomes if o.text is not None]
        for o in texts:
            if len(outcomes) > 1:
                click.echo(f"==> {o.item.path} <==")
            click.echo(o.text.rstrip("\n"))
    else:
        written = sum(len(o.written) for o in outcomes)
        click.echo(f"wrote {written} file(s) to {options.out_dir}", err=True)
    for o in outcomes:
        if o.status == "partial_success":
            click.echo(
                f"{o.item.path}: {o.pages_failed} of {o.pages_total} page(s) failed ({o.message or 'see ocrctl status'})",
                err=True,
            )
    click.echo(summarise(outcomes), err=True)


# --- one job -------------------------------------------------------------------------------------


@main.command()
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="print the API's JSON answer")
@click.pass_obj
def status(obj: Context, job_id: str, as_json: bool) -> None:
    """Show a job's status and page counts."""
    try:
        view = obj.client().job(job_id)
    except OcrError as exc:
        fail(exc)
    if as_json:
        click.echo(json.dumps(view.body, indent=2, ensure_ascii=False))
        return
    b = view.body
    click.echo(
        f"{view.job_id}  {view.status}  pages {b.get('pages_done', 0)}/{b.get('pages_total', '?')} done, {b.get('pages_failed', 0)} failed"
    )
    for line in _file_lines(b):
        click.echo(line)
    error = b.get("error")
    if isinstance(error, dict) and error:
        click.echo(f"error: {error.get('code')}: {error.get('message')}")


def _error_text(error: object) -> str:
    return f"{error.get('code')}: {error.get('message')}" if isinstance(error, dict) and error else ""


def _file_lines(job: dict) -> list[str]:
    """One line per file sent (the refused ones too), with the job pages it became, then each failed page
    named by its file and its page there: "page 4 (photo.jpg p1): corrupt_file: ..."."""
    files, pages = job.get("files") or [], job.get("pages") or []
    names = {f.get("index", i): f.get("filename") for i, f in enumerate(files)}
    lines = []
    for i, f in enumerate(files):
        index = f.get("index", i)
        numbers = [p["page_number"] for p in pages if p.get("file_index") == index]
        what = [f.get("status") or "?"]
        if f.get("page_count") is not None:
            what.append(f"{f.get('format')}, {f['page_count']} page(s)")
        if numbers:
            span = f"{min(numbers)}-{max(numbers)}" if len(numbers) > 1 else str(numbers[0])
            what.append(f"job page(s) {span}")
        if f.get("error"):
            what.append(_error_text(f["error"]))
        lines.append(f"  #{index + 1} {f.get('filename')}: " + "; ".join(what))
    for p in pages:
        if p.get("status") == "failed" or p.get("error"):
            where = f"{names.get(p.get('file_index'), '?')} p{p.get('source_page')}"
            lines.append(f"  page {p.get('page_number')} ({where}): {p.get('status')} {_error_text(p.get('error'))}".rstrip())
    return lines


@main.command()
@click.argument("job_id")
@click.option("--format", "fmt", type=click.Choice(EXTENSIONS), default="txt", show_default=True)
@click.option("--pages", help='only these pages (JSON), e.g. "1-3"')
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="write to this file instead of stdout")
@click.pass_obj
def result(obj: Context, job_id: str, fmt: str, pages: str | None, output: Path | None) -> None:
    """Fetch a finished job's result: txt, json (lines, boxes, confidences), hocr or pdf."""
    if output is None and BY_EXT[fmt].binary and sys.stdout.isatty():
        raise click.UsageError("a PDF is binary: pass -o FILE (or redirect stdout)")
    try:
        data = obj.client().result(job_id, fmt, pages=pages)
    except OcrError as exc:
        fail(exc)
    if output is not None:
        write_atomic(output, data)
        click.echo(f"wrote {output} ({len(data)} bytes)", err=True)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()


@main.command()
@click.argument("job_id")
@click.pass_obj
def cancel(obj: Context, job_id: str) -> None:
    """Cancel a job: pages not yet started are dropped, running pages stop at their next step."""
    try:
        view = obj.client().cancel(job_id)
    except OcrError as exc:
        fail(exc)
    click.echo(f"{view.job_id or job_id}  {view.status}")


@main.command()
@click.argument("job_id")
@click.pass_obj
def delete(obj: Context, job_id: str) -> None:
    """Delete a job with its upload, page images and results."""
    try:
        obj.client().delete(job_id)
    except OcrError as exc:
        fail(exc)
    click.echo(f"{job_id}  deleted")


@main.command("list")
@click.option("--status", "status_", type=click.Choice(JOB_STATUSES), help="only jobs in this status")
@click.option("--tag", help="only jobs with this tag")
@click.option("--page", type=click.IntRange(1), default=1, show_default=True)
@click.option("--per-page", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print the API's JSON answer")
@click.pass_obj
def list_(obj: Context, status_: str | None, tag: str | None, page: int, per_page: int, as_json: bool) -> None:
    """List your jobs, newest first."""
    try:
        body = obj.client().list_jobs(status=status_, tag=tag, page=page, per_page=per_page)
    except OcrError as exc:
        fail(exc)
    if as_json:
        click.echo(json.dumps(body, indent=2, ensure_ascii=False))
        return
    # Tab-separated for scripts (skip the first line); the files come last, as their names may hold spaces.
    click.echo("JOB_ID\tSTATUS\tPAGES\tTAG\tCREATED\tFILES")
    for job in body.get("jobs", []):
        pages = f"{job.get('pages_done', 0)}/{job.get('pages_total', '?')}"
        files = ", ".join(job.get("filenames") or []) or "-"
        click.echo(
            f"{job.get('job_id')}\t{job.get('status')}\t{pages}\t{job.get('job_tag') or '-'}\t{job.get('created_at', '')}\t{files}"
        )


# --- keys ----------------------------------------------------------------------------------------


@main.group()
def keys() -> None:
    """API keys: over HTTP with an admin key, or with --local on the server host."""


def _ocr_admin() -> str | None:
    # A client-only install (pip install '.[client]') has the ocr-admin script beside it but not
    # the server's packages it imports: that one would only crash, so it does not count.
    beside = Path(sys.executable).with_name("ocr-admin")
    if beside.exists() and importlib.util.find_spec("sqlalchemy") is not None:
        return str(beside)
    found = shutil.which("ocr-admin")
    return found if found and Path(found).resolve() != beside.resolve() else None


@keys.command("create")
@click.option("--name", required=True, help="who or what the key is for")
@click.option("--admin", is_flag=True, help="the key may see every job and open the dashboard")
@click.option("--rate-limit", help="requests per window, e.g. 120/min (server default otherwise)")
@click.option("--quota-pages", type=click.IntRange(0), help="pages the key may have read in total")
@click.option("--local", is_flag=True, help="run `ocr-admin keys create` here, against the server's database")
@click.pass_obj
def keys_create(obj: Context, name: str, admin: bool, rate_limit: str | None, quota_pages: int | None, local: bool) -> None:
    """Create an API key and print it alone on stdout (details on stderr); it is shown only once.

    With an admin key configured this asks the API (POST /v1/keys). With --local, or on the server
    host when no key is configured yet, it runs `ocr-admin keys create` -- the same code path,
    straight against the database named by OCR_DATABASE_URL.
    """
    admin_cmd = _ocr_admin()
    if local or (not (obj.api_key or default_api_key()) and admin_cmd):
        if admin_cmd is None:
            fail(RuntimeError("ocr-admin is not installed here: use an admin key instead of --local"))
        argv = [admin_cmd, "keys", "create", "--name", name] + (["--admin"] if admin else [])
        argv += (["--rate-limit", rate_limit] if rate_limit else []) + (
            ["--quota-pages", str(quota_pages)] if quota_pages is not None else []
        )
        sys.exit(subprocess.call(argv, env=os.environ.copy()))
    try:
        body = obj.client().create_key(name, admin=admin, rate_limit=rate_limit, quota_pages=quota_pages)
    except OcrError as exc:
        fail(exc)
    for field in ("id", "name", "is_admin", "rate_limit", "quota_pages", "webhook_secret"):
        click.echo(f"{field}: {body.get(field)}", err=True)
    click.echo("The key is shown once; store it now:", err=True)
    click.echo(body["key"])


@keys.command("list")
@click.pass_obj
def keys_list(obj: Context) -> None:
    """List the API keys (admin key needed)."""
    try:
        records = obj.client().list_keys()
    except OcrError as exc:
        fail(exc)
    for r in records:
        state = "revoked" if r.get("revoked_at") else ("admin" if r.get("is_admin") else "active")
        click.echo(f"{r.get('id')}\t{r.get('prefix')}\t{state}\t{r.get('rate_limit') or 'default'}\t{r.get('name')}")


if __name__ == "__main__":
    main()
