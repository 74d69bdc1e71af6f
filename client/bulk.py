"""Bulk submit: send many files as one job each, optionally wait for them and save their results.

Each file is one job with an idempotency token made from its bytes and the options, so running
the same command again (after a crash, a Ctrl-C, a network failure) picks up the same jobs
instead of creating new ones.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import OcrError
from core.formats import BY_EXT

from .http import JobView, OcrClient
from .inputs import InputFile, request_token, write_atomic

# Written for every finished job under --out; --format adds others. They are only what is written:
# the job asks for the server's default outputs, so any format can still be fetched later.
BASE_FORMATS = ("txt", "json")


@dataclass(frozen=True)
class SubmitOptions:
    lang: str | None = None
    pages: str | None = None
    detect_orientation: bool | None = None
    job_tag: str | None = None
    callback_url: str | None = None
    pdf_text: str | None = None  # auto | ocr | keep; None: the server's default (auto)
    formats: tuple[str, ...] = BASE_FORMATS  # written under --out; not sent (the server's default outputs are)
    wait: bool = False
    out_dir: Path | None = None
    wait_timeout: float | None = None
    poll_max: float = 5.0

    def job_options(self) -> dict[str, object]:
        """The options that define the job, and so go into its idempotency token.

        ``formats`` is not one: the same file written as --format pdf later is the same job.
        """
        return {
            "lang": self.lang,
            "pages": self.pages,
            "detect_orientation": self.detect_orientation,
            "job_tag": self.job_tag,
            "callback_url": self.callback_url,
            # Only when given, so the tokens of jobs sent without it stay what they were.
            **({"pdf_text": self.pdf_text} if self.pdf_text is not None else {}),
        }


@dataclass
class Outcome:
    item: InputFile
    job_id: str | None = None
    # The job's status, or "error" when it could not be submitted or followed to its end.
    status: str = "error"
    message: str | None = None
    pages_total: int | None = None
    pages_failed: int | None = None
    written: list[Path] = field(default_factory=list)
    text: str | None = None  # kept only when waiting without --out, to print

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"


class BulkSubmit:
    """``on_done(outcome)`` as each file ends; ``on_progress(item, view)`` on every answer about its job
    (the submit's, then each poll's while waiting), for progress in pages. Both are called one at a time."""

    def __init__(
        self,
        client: OcrClient,
        options: SubmitOptions,
        on_done: Callable[[Outcome], None] | None = None,
        on_progress: Callable[[InputFile, JobView], None] | None = None,
    ):
        self.client = client
        self.options = options
        self._on_done = on_done
        self._on_progress = on_progress
        self._lock = threading.Lock()

    def run(self, items: Sequence[InputFile], concurrency: int) -> list[Outcome]:
        """Process every item with ``concurrency`` threads; outcomes in the order of ``items``."""
        outcomes: dict[int, Outcome] = {}
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            futures = {pool.submit(self.process, item): index for index, item in enumerate(items)}
            try:
                for future in as_completed(futures):
                    outcome = future.result()
                    outcomes[futures[future]] = outcome
                    if self._on_done is not None:
                        with self._lock:
                            self._on_done(outcome)
            except KeyboardInterrupt:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
        return [outcomes[i] for i in range(len(items))]

    def process(self, item: InputFile) -> Outcome:
        outcome = Outcome(item)
        try:
            view = self._submit(item)
            outcome.job_id, outcome.status = view.job_id, view.status
            self._progress(item, view)
            if self.options.wait:
                view = self.client.wait(
                    view.job_id,
                    first_delay=view.retry_after,
                    poll_max=self.options.poll_max,
                    timeout=self.options.wait_timeout,
                    on_update=lambda update: self._progress(item, update),
                )
                self._finish(outcome, view)
        except OcrError as exc:
            outcome.status, outcome.message = "error", str(exc)
        except OSError as exc:  # an unreadable input or an unwritable --out
            outcome.status, outcome.message = "error", f"{type(exc).__name__}: {exc}"
        return outcome

    def _progress(self, item: InputFile, view: JobView) -> None:
        if self._on_progress is not None:
            with self._lock:
                self._on_progress(item, view)

    def _submit(self, item: InputFile) -> JobView:
        content = item.path.read_bytes()
        opts = self.options
        return self.client.submit(
            [(item.path.name, content)],
            lang=opts.lang,
            pages=opts.pages,
            detect_orientation=opts.detect_orientation,
            outputs=None,  # the server's default, so every output can be fetched later
            client_request_token=request_token(content, opts.job_options()),
            job_tag=opts.job_tag,
            callback_url=opts.callback_url,
            pdf_text=opts.pdf_text,
        )

    def _finish(self, outcome: Outcome, view: JobView) -> None:
        outcome.status = view.status
        outcome.pages_total = view.body.get("pages_total")
        outcome.pages_failed = view.body.get("pages_failed")
        error = view.body.get("error")
        if isinstance(error, dict):
            outcome.message = f"{error.get('code')}: {error.get('message')}"
        if view.status not in ("succeeded", "partial_success"):
            return
        if self.options.out_dir is None:
            outcome.text = self.client.result(outcome.job_id, "txt").decode("utf-8", "replace")
            return
        for fmt in self.options.formats:
            target = self.options.out_dir / (outcome.item.out_name + BY_EXT[fmt].suffix)
            write_atomic(target, self.client.result(outcome.job_id, fmt))
            outcome.written.append(target)


def summarise(outcomes: Sequence[Outcome]) -> str:
    counts = Counter(o.status for o in outcomes)
    order = ["succeeded", "partial_success", "failed", "cancelled", "queued", "running", "cancelling", "error"]
    parts = [f"{counts[s]} {s}" for s in order if counts[s]]
    parts += [f"{n} {s}" for s, n in counts.items() if s not in order]
    return f"{len(outcomes)} file(s): " + ", ".join(parts)
