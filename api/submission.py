"""Accepting a job: check the uploads and options, count and store the bytes, record the job, enqueue split_job.

Everything that can be checked is checked before anything is written. Then one
transaction inserts the job's row unless its client_request_token names a job
already (then that job is the answer), checks the page quota, counts the
uploads (db/blobs.py: their rows stay locked until it commits), stores the bytes
(content-addressed, so a repeat costs nothing) and inserts the job's files:
a delete of another job with the same upload at that moment either finished
before (and the bytes are stored again) or waits for this transaction and then
sees its reference and keeps them. A job in the database always has its uploads.
Then split_job is sent. If storage, the database or the broker cannot take their
part the job is withdrawn and the client gets 503: nothing is half-accepted.

Submits arriving together share that work (group commit, api/group_commit.py): one thread
per API process records every submit that queued up while its previous batch was being
committed, in one transaction (one WAL flush, a few round trips however many jobs), then
sends their split_job messages in one Redis push, then answers each request. A request
is answered 202 only once its row is committed and its message is in Redis; a lone
submit is a batch of one, recorded at once.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, insert, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage, MultiDict

from api.auth import Caller
from api.deletion import delete_job_data
from api.schemas import JobForm, validate
from api.services import Services
from core.errors import (
    EmptyFile,
    FileTooLarge,
    InputError,
    QueueUnavailable,
    QuotaExceeded,
)
from core.formats import DEFAULT_OUTPUTS
from core.outbound import Allowlist, check_target
from db.blobs import add_references, drop_references
from db.bulk import insert_rows, postgres
from db.models import ApiKey, Job, JobFile, JobStatus, new_job_id
from pipeline.loader import sniff_format
from storage import input_key
from worker.queueing import SPLIT_JOB, enqueue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes
    sha256: str
    index: int = 0  # 0-based place in the request


@dataclass(frozen=True)
class Rejection:
    """A file of the request that was refused while others were accepted; its bytes are not kept."""

    index: int  # 0-based place in the request
    filename: str
    error: InputError

    def as_dict(self) -> dict:
        return {"index": self.index, "filename": self.filename, "code": self.error.code, "message": self.error.message}


@dataclass(frozen=True)
class JobOptions:
    lang: str = "mix"
    page_spec: str | None = None
    detect_orientation: bool = True
    outputs: tuple[str, ...] = DEFAULT_OUTPUTS
    client_request_token: str | None = None
    job_tag: str | None = None
    callback_url: str | None = None
    pdf_text: str = "auto"  # auto | ocr | keep (pipeline/text_layer.py)


_LISTED_IN_MESSAGE = 5  # a refusal names this many files in its message; its "rejected" list has them all


def read_uploads(files: list[FileStorage], max_bytes: int, max_files: int) -> tuple[list[Upload], list[Rejection]]:
    """The uploaded files' bytes, and the files refused (empty, over the size limit, not a document).

    One bad file does not refuse the others: each is judged alone and the job goes on with the good
    ones. Only when none is good is the request refused, with the first file's error (its code and
    HTTP status, as a one-file request always had) and every file's error in ``rejected``.
    """
    if not files:
        raise InputError("Send at least one file in a multipart field named 'file'.")
    if len(files) > max_files:
        raise InputError(f"A job may have at most {max_files} files; this request has {len(files)}.")
    uploads: list[Upload] = []
    rejected: list[Rejection] = []
    total = 0
    for index, storage in enumerate(files):
        name = (storage.filename or f"file{index + 1}")[:500]
        try:
            data = _read_one(storage, max_bytes, total)
        except InputError as exc:
            rejected.append(Rejection(index, name, exc))
            continue
        total += len(data)
        uploads.append(Upload(filename=name, data=data, sha256=hashlib.sha256(data).hexdigest(), index=index))
    if not uploads:
        raise _all_rejected(rejected)
    return uploads, rejected


def _read_one(storage: FileStorage, max_bytes: int, total_before: int) -> bytes:
    data = storage.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise FileTooLarge(f"The upload is larger than the {max_bytes // (1024 * 1024)} MiB allowed.")
    if total_before + len(data) > max_bytes:
        raise FileTooLarge(f"With the files before it the request is larger than the {max_bytes // (1024 * 1024)} MiB allowed.")
    if not data:
        raise EmptyFile("The file is empty.")
    sniff_format(data)  # raises UnsupportedFormat
    return data


def _all_rejected(rejected: list[Rejection]) -> InputError:
    first = rejected[0]
    if len(rejected) == 1:
        message = f"{first.filename}: {first.error.message}"
    else:
        listed = "; ".join(f"{r.filename}: {r.error.message}" for r in rejected[:_LISTED_IN_MESSAGE])
        more = len(rejected) - _LISTED_IN_MESSAGE
        message = f"None of the {len(rejected)} files can be read. {listed}" + (f" (and {more} more)" if more > 0 else "")
    err = type(first.error)(message)
    err.details = {"rejected": [r.as_dict() for r in rejected]}
    return err


def parse_options(form: MultiDict) -> JobOptions:
    """The job's options from the form; api/schemas.py's JobForm checks them (and documents them)."""
    checked = validate(JobForm, form)
    return JobOptions(
        lang=checked.lang,
        page_spec=checked.pages,
        detect_orientation=checked.detect_orientation,
        outputs=checked.outputs,
        client_request_token=checked.client_request_token,
        job_tag=checked.job_tag,
        callback_url=checked.callback_url,
        pdf_text=checked.pdf_text,
    )


def over_quota(session: Session, callers: Sequence[Caller]) -> set[int]:
    """The ids of those ``callers`` whose keys have used their page quota, by the database's counts
    (a Caller may have been cached: api/auth.py)."""
    limits = {c.id: c.quota_pages for c in callers if c.quota_pages is not None}
    if not limits:
        return set()
    used = session.execute(select(ApiKey.id, ApiKey.pages_used).where(ApiKey.id.in_(sorted(limits))))
    return {key_id for key_id, pages in used if pages is not None and pages >= limits[key_id]}


def find_by_token(svc: Services, caller: Caller, token: str | None) -> Job | None:
    if token is None:
        return None
    with svc.db.session() as s:
        return s.scalar(select(Job).where(Job.api_key_id == caller.id, Job.client_request_token == token))


def submit(
    svc: Services, caller: Caller, uploads: list[Upload], options: JobOptions, rejected: Sequence[Rejection] = ()
) -> tuple[Job | RecordedJob, bool]:
    """Record and enqueue a job; returns (job, created). A known client_request_token returns its job.

    ``rejected`` are the request's files refused at upload: recorded on the job, so its status tells
    the client about them later too, and so the job ends partial_success however well the rest goes.
    A created job is returned as recorded (a RecordedJob, with its files), not loaded again from the database.

    The job is recorded and its split_job sent by the process's group commit (``svc.submits``,
    record_and_send): this returns once the job's row is committed and its message is in Redis.
    """
    if options.callback_url is not None:
        try:
            check_callback(svc, options.callback_url)  # resolves the host: here, not in the batch's thread
        except InputError:
            existing = find_by_token(svc, caller, options.client_request_token)
            if existing is not None:  # a replay answers with its job, as it did before the check
                return existing, False
            raise
    for _attempt in range(2):
        job = svc.submits(Submission(caller, uploads, options, tuple(rejected)))
        if job is not None:
            return job, True
        # The token names a job already (perhaps one a parallel request has just committed).
        existing = find_by_token(svc, caller, options.client_request_token)
        if existing is not None:
            return existing, False
        # ... which was deleted in between: the token is free again.
    raise AssertionError("a client_request_token conflicted twice with a job that is gone")


@dataclass(frozen=True)
class Submission:
    """One request's job, as handed to the group commit."""

    caller: Caller
    uploads: list[Upload]
    options: JobOptions
    rejected: tuple[Rejection, ...]

    def rows(self, job_id: str) -> tuple[dict, list[dict]]:
        options = self.options
        row = {
            "id": job_id,
            "api_key_id": self.caller.id,
            "status": JobStatus.QUEUED,
            "lang": options.lang,
            "page_spec": options.page_spec,
            "detect_orientation": options.detect_orientation,
            "pdf_text": options.pdf_text,
            "outputs": ",".join(options.outputs),
            "client_request_token": options.client_request_token,
            "job_tag": options.job_tag,
            "callback_url": options.callback_url,
            "rejected_files": [r.as_dict() for r in self.rejected] or None,
        }
        files = [
            {
                "job_id": job_id,
                "position": upload.index,  # its place in the request, shared with rejected files
                "filename": upload.filename,
                "sha256": upload.sha256,
                "size_bytes": len(upload.data),
            }
            for upload in self.uploads
        ]
        return row, files


@dataclass(frozen=True)
class RecordedFile:
    position: int
    filename: str


@dataclass(frozen=True)
class RecordedJob:
    """A created job as its submit recorded it: what the 202 answer says (api/jobs.py:accepted), with the
    attributes of db.models.Job it needs. Not an ORM object: the group commit's one thread makes one per
    submit, and SQLAlchemy's instrumented constructor cost more than the rest of recording the job."""

    id: str
    status: str
    rejected_files: list[dict] | None
    files: tuple[RecordedFile, ...]


Outcome = RecordedJob | None | BaseException  # created; its token names a job already; refused or failed


def record_and_send(svc: Services, batch: Sequence[Submission]) -> list[Outcome]:
    """The group commit's work (api/group_commit.py): record the batch's jobs in one transaction,
    then send their split_job messages in one push; one outcome per submission.

    When the shared transaction fails, each submission is recorded alone, so one request's
    failure (its upload cannot be stored, a deadlock) stays its own. When the messages cannot be
    sent the jobs are withdrawn and their requests get QueueUnavailable (503), as before: a job
    in the database is a job its client was told about.
    """
    try:
        outcomes = _record(svc, batch)
    except Exception as exc:
        if len(batch) == 1:
            raise
        log.warning("Recording %d submits together failed (%s); recording each alone", len(batch), exc)
        outcomes = []
        for submission in batch:
            try:
                outcomes += _record(svc, [submission])
            except Exception as alone:  # noqa: BLE001 -- that request's own error
                outcomes.append(alone)
    created = [o for o in outcomes if isinstance(o, RecordedJob)]
    try:
        _send_split_jobs(svc, [job.id for job in created])
    except QueueUnavailable as exc:
        for job in created:
            log.error("%s; withdrawing job %s", exc.message, job.id)
            delete_job_data(svc, job.id)  # takes the uploads' references with it
        return [exc if isinstance(o, RecordedJob) else o for o in outcomes]
    return outcomes


def _send_split_jobs(svc: Services, job_ids: list[str]) -> None:
    if not job_ids:
        return
    if svc.publisher is not None:
        svc.publisher.publish(SPLIT_JOB, job_ids)
        return
    for job_id in job_ids:
        enqueue(svc.celery, SPLIT_JOB, job_id)


def _record(svc: Services, batch: Sequence[Submission]) -> list[Outcome]:
    """The batch's jobs and their files in one transaction, with their uploads counted and stored.

    The jobs' rows go in first, ``ON CONFLICT DO NOTHING`` on key and token: a token already used
    (or being used by a parallel request, which this then waits for) inserts nothing and its
    outcome is None, so a replay costs its request one lookup. Rows are inserted in (key, token)
    order and uploads counted in sha256 order, so two batches never wait on each other in a
    circle; a token twice in one batch goes in once, and the other request finds that job.
    Then the page quota of the keys that inserted a job (a key over it has its jobs taken out
    again), the uploads' counts (db/blobs.py: their rows stay locked until the commit), the bytes
    (content-addressed, so a repeat costs nothing) and the jobs' files. Core statements rather
    than the ORM's unit of work: the same rows, a fraction of the CPU per submit.
    """
    outcomes: list[Outcome] = [None] * len(batch)
    rows: dict[int, tuple[dict, list[dict]]] = {}
    tokens: set[tuple[int, str]] = set()
    for i in sorted(range(len(batch)), key=lambda i: (batch[i].caller.id, batch[i].options.client_request_token or "")):
        token = batch[i].options.client_request_token
        if token is not None:
            if (batch[i].caller.id, token) in tokens:
                continue
            tokens.add((batch[i].caller.id, token))
        rows[i] = batch[i].rows(new_job_id())
    written: list[str] = []  # uploads this batch stored (not there before)
    try:
        with svc.db.session() as s:
            inserted = set(_insert_jobs(s, [row for row, _files in rows.values()]))
            created = [i for i, (row, _files) in rows.items() if row["id"] in inserted]
            refused = over_quota(s, [batch[i].caller for i in created])
            if refused:
                dropped = [i for i in created if batch[i].caller.id in refused]
                s.execute(delete(Job.__table__).where(Job.__table__.c.id.in_([rows[i][0]["id"] for i in dropped])))
                for i in dropped:
                    outcomes[i] = QuotaExceeded(f"This key has used its quota of {batch[i].caller.quota_pages} pages.")
                created = [i for i in created if i not in dropped]
            if created:
                # Counted before they are stored, their rows locked until the commit: a delete of another
                # job with the same bytes waits for it, then sees this job's reference and keeps them.
                uploads = {u.sha256: u.data for i in created for u in batch[i].uploads}
                add_references(s, [u.sha256 for i in created for u in batch[i].uploads])
                for sha256, data in uploads.items():
                    if svc.storage.put_if_absent(input_key(sha256), data):
                        written.append(sha256)
                _insert_files(s, [f for i in created for f in rows[i][1]])
    except BaseException:
        _remove_unused(svc, written)
        raise
    for i in created:
        row, files = rows[i]
        recorded = tuple(RecordedFile(f["position"], f["filename"]) for f in files)
        outcomes[i] = RecordedJob(row["id"], row["status"], row["rejected_files"], recorded)
    return outcomes


_ON_TOKEN = ("api_key_id", "client_request_token")
_INSERT_JOB_SQLITE = sqlite.insert(Job.__table__).on_conflict_do_nothing(index_elements=_ON_TOKEN).returning(Job.__table__.c.id)


def _insert_jobs(session: Session, rows: list[dict]) -> list[str]:
    """The ids of the rows inserted; a row whose (key, token) is taken already is skipped."""
    if postgres(session):  # one statement for the batch (db/bulk.py)
        clause = f"ON CONFLICT ({', '.join(_ON_TOKEN)}) DO NOTHING"
        return insert_rows(session, Job.__table__, rows, on_conflict=clause, returning="id")
    return list(session.scalars(_INSERT_JOB_SQLITE, rows))


def _insert_files(session: Session, files: list[dict]) -> None:
    if postgres(session):
        insert_rows(session, JobFile.__table__, files)  # one statement for the batch (db/bulk.py)
    else:
        session.execute(insert(JobFile.__table__), files)


def _remove_unused(svc: Services, hashes: list[str]) -> None:
    """Remove uploads this request stored for a job that was not recorded, unless a job uses them.

    Counting each one up and down again in one transaction takes its row's lock: a parallel
    submit of the same bytes has either committed its reference (the count stays above zero and
    the bytes stay) or waits for this and then stores them again.
    """
    if not hashes:
        return
    try:
        with svc.db.session() as s:
            add_references(s, hashes)
            drop_references(s, hashes, lambda sha256: svc.storage.delete(input_key(sha256)))
    except Exception:
        # A leftover upload takes room until a job with the same bytes is deleted; that is safe, a lost one would not be.
        log.exception("Could not remove the unused uploads %s", hashes)


def check_callback(svc: Services, url: str) -> None:
    """Refuse a callback URL whose host resolves to an address the worker must not reach."""
    try:
        check_target(url, Allowlist.parse(svc.settings.webhook_allow))
    except OSError as exc:
        # Perhaps only a resolver hiccup: the worker resolves and checks again before it sends anything.
        log.info("callback_url host not resolvable at submit (%s); it is checked again at delivery", exc)
