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

One transaction rather than one per step: a submit is one commit (one WAL flush) and
a few round trips to the database, which is most of what accepting a job costs.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
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


def check_quota(session: Session, caller: Caller) -> None:
    """Against the key's count in the database: ``caller`` may have been cached (api/auth.py)."""
    if caller.quota_pages is None:
        return
    used = session.scalar(select(ApiKey.pages_used).where(ApiKey.id == caller.id))
    if used is not None and used >= caller.quota_pages:
        raise QuotaExceeded(f"This key has used its quota of {caller.quota_pages} pages.")


def find_by_token(svc: Services, caller: Caller, token: str | None) -> Job | None:
    if token is None:
        return None
    with svc.db.session() as s:
        return s.scalar(select(Job).where(Job.api_key_id == caller.id, Job.client_request_token == token))


def submit(
    svc: Services, caller: Caller, uploads: list[Upload], options: JobOptions, rejected: Sequence[Rejection] = ()
) -> tuple[Job, bool]:
    """Record and enqueue a job; returns (job, created). A known client_request_token returns its job.

    ``rejected`` are the request's files refused at upload: recorded on the job, so its status tells
    the client about them later too, and so the job ends partial_success however well the rest goes.
    A created job is returned as recorded, with its files, not loaded again from the database.
    """
    for _attempt in range(2):
        job = _record(svc, caller, uploads, options, rejected)
        if job is not None:
            break
        # The token names a job already (perhaps one a parallel request has just committed).
        existing = find_by_token(svc, caller, options.client_request_token)
        if existing is not None:
            return existing, False
        # ... which was deleted in between: the token is free again.
    else:
        raise AssertionError("a client_request_token conflicted twice with a job that is gone")
    try:
        enqueue(svc.celery, SPLIT_JOB, job.id)
    except QueueUnavailable as exc:
        log.error("%s; withdrawing job %s", exc.message, job.id)
        delete_job_data(svc, job.id)  # takes the uploads' references with it
        raise
    return job, True


def _record(
    svc: Services, caller: Caller, uploads: list[Upload], options: JobOptions, rejected: Sequence[Rejection]
) -> Job | None:
    """The job and its files in one transaction, with its uploads counted and stored.

    The job's row goes in first, ``ON CONFLICT DO NOTHING`` on its key and token: a token already
    used (or being used by a parallel request, which it then waits for) inserts nothing and this
    returns None, so a replay costs one statement. Core statements rather than the ORM's
    unit of work: the same rows, a fraction of the CPU per submit.
    """
    job_id = new_job_id()
    row = {
        "id": job_id,
        "api_key_id": caller.id,
        "status": JobStatus.QUEUED,
        "lang": options.lang,
        "page_spec": options.page_spec,
        "detect_orientation": options.detect_orientation,
        "pdf_text": options.pdf_text,
        "outputs": ",".join(options.outputs),
        "client_request_token": options.client_request_token,
        "job_tag": options.job_tag,
        "callback_url": options.callback_url,
        "rejected_files": [r.as_dict() for r in rejected] or None,
    }
    files = [
        {
            "job_id": job_id,
            "position": upload.index,  # its place in the request, shared with rejected files
            "filename": upload.filename,
            "sha256": upload.sha256,
            "size_bytes": len(upload.data),
        }
        for upload in uploads
    ]
    written: list[str] = []  # uploads this request stored (not there before)
    try:
        with svc.db.session() as s:
            if s.execute(_insert_job(s), row).scalar() is None:
                return None
            check_quota(s, caller)
            if options.callback_url is not None:
                check_callback(svc, options.callback_url)
            # Counted before they are stored, their rows locked until the commit: a delete of another
            # job with the same bytes waits for it, then sees this job's reference and keeps them.
            add_references(s, [upload.sha256 for upload in uploads])
            for upload in uploads:
                if svc.storage.put_if_absent(input_key(upload.sha256), upload.data):
                    written.append(upload.sha256)
            s.execute(insert(JobFile.__table__), files)
    except BaseException:
        _remove_unused(svc, written)
        raise
    return Job(**row, files=[JobFile(**f) for f in files])


_INSERT_JOB = {
    dialect: insert_for_dialect(Job.__table__)
    .on_conflict_do_nothing(index_elements=["api_key_id", "client_request_token"])
    .returning(Job.__table__.c.id)
    for dialect, insert_for_dialect in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}


def _insert_job(session: Session):
    return _INSERT_JOB[session.get_bind().dialect.name]


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
