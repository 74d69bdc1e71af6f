"""The job records: API keys, jobs, their uploaded files and their pages.

The database is the source of truth for every job; queue messages carry ids
only. Counters on ``jobs`` are changed with single UPDATE statements (see
``db.transitions``) so concurrent workers never lose an increment.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer, "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_job_id() -> str:
    return str(uuid.uuid4())


class JobStatus:
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL_SUCCESS = "partial_success"
    FAILED = "failed"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"

    ALL = (QUEUED, RUNNING, SUCCEEDED, PARTIAL_SUCCESS, FAILED, CANCELLING, CANCELLED)
    FINAL = (SUCCEEDED, PARTIAL_SUCCESS, FAILED, CANCELLED)
    ACTIVE = (QUEUED, RUNNING, CANCELLING)


class PageStatus:
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    ALL = (QUEUED, RUNNING, DONE, FAILED, CANCELLED)
    SETTLED = (DONE, FAILED, CANCELLED)
    OPEN = (QUEUED, RUNNING)


class FileStatus:
    PENDING = "pending"  # stored, not yet split into pages
    READY = "ready"  # split into pages
    FAILED = "failed"  # unusable; see error_code


class Base(DeclarativeBase):
    type_annotation_map = {datetime: DateTime(timezone=True)}


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex of the secret key
    prefix: Mapped[str] = mapped_column(String(16))  # first characters of the key, for people to recognise it
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    rate_limit: Mapped[int | None] = mapped_column(Integer)  # requests per window; None = the default
    rate_window: Mapped[int] = mapped_column(Integer, default=60)  # seconds
    quota_pages: Mapped[int | None] = mapped_column(BigInteger)  # None = unlimited
    pages_used: Mapped[int] = mapped_column(BigInteger, default=0)
    webhook_secret: Mapped[str] = mapped_column(String(64))  # signs this key's callbacks
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("api_key_id", "client_request_token", name="uq_jobs_key_token"),
        Index("ix_jobs_key_created", "api_key_id", "created_at"),
        Index("ix_jobs_status_created", "status", "created_at"),
        Index("ix_jobs_tag_created", "job_tag", "created_at"),
        Index("ix_jobs_created", "created_at"),
        Index("ix_jobs_status_finished", "status", "finished_at"),  # migration 0002: dashboard throughput
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_job_id)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.QUEUED)
    lang: Mapped[str] = mapped_column(String(8), default="mix")
    page_spec: Mapped[str | None] = mapped_column(String(200))
    detect_orientation: Mapped[bool] = mapped_column(Boolean, default=True)
    # What a PDF page's own text layer is used for: auto | ocr | keep (pipeline/text_layer.py; migration 0005).
    pdf_text: Mapped[str] = mapped_column(String(8), default="auto", server_default="auto")
    outputs: Mapped[str] = mapped_column(String(100))  # comma-separated: json,txt,hocr,pdf
    client_request_token: Mapped[str | None] = mapped_column(String(128))
    job_tag: Mapped[str | None] = mapped_column(String(128))
    callback_url: Mapped[str | None] = mapped_column(String(2000))
    pages_total: Mapped[int] = mapped_column(Integer, default=0)
    pages_done: Mapped[int] = mapped_column(Integer, default=0)
    pages_failed: Mapped[int] = mapped_column(Integer, default=0)
    pages_cancelled: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    # Files refused at upload while others of the request were accepted (migration 0004): a list of
    # {"index", "filename", "code", "message"}, index being the file's 0-based place in the request.
    # Their bytes are never stored, so they are kept here rather than as job_files rows, which all
    # have an upload that splitting, retries, reruns and deletes rely on.
    rejected_files: Mapped[list | None] = mapped_column(JSON)
    finish_requested_at: Mapped[datetime | None]  # set once, by whoever enqueues finish_job
    webhook_status: Mapped[str | None] = mapped_column(String(20))  # pending | delivered | failed
    webhook_attempts: Mapped[int] = mapped_column(Integer, default=0)
    webhook_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    files: Mapped[list[JobFile]] = relationship(
        back_populates="job", order_by="JobFile.position", cascade="all, delete-orphan", passive_deletes=True
    )
    pages: Mapped[list[Page]] = relationship(
        back_populates="job", order_by="Page.page_number", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def output_list(self) -> list[str]:
        return [o for o in self.outputs.split(",") if o]

    @property
    def pages_settled(self) -> int:
        return self.pages_done + self.pages_failed + self.pages_cancelled


class JobFile(Base):
    """One uploaded document of a job; its bytes live in storage under inputs/<sha256>."""

    __tablename__ = "job_files"
    __table_args__ = (UniqueConstraint("job_id", "position", name="uq_job_files_position"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    # 0-based place in the request; a rejected file (Job.rejected_files) keeps its place, so positions may skip.
    position: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    format: Mapped[str | None] = mapped_column(String(8))
    page_count: Mapped[int | None] = mapped_column(Integer)  # pages in the document
    status: Mapped[str] = mapped_column(String(16), default=FileStatus.PENDING)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)

    job: Mapped[Job] = relationship(back_populates="files")


class Page(Base):
    """One page to read: page ``page_number`` of the job is page ``source_page`` of ``file``."""

    __tablename__ = "pages"
    __table_args__ = (
        UniqueConstraint("job_id", "page_number", name="uq_pages_job_number"),
        Index("ix_pages_status_created", "status", "created_at"),
        Index("ix_pages_finished", "finished_at"),
        Index("ix_pages_status_finished", "status", "finished_at"),  # migration 0002: dashboard throughput
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    file_id: Mapped[int] = mapped_column(ForeignKey("job_files.id", ondelete="CASCADE"), index=True)
    page_number: Mapped[int] = mapped_column(Integer)  # 1-based across the whole job
    source_page: Mapped[int] = mapped_column(Integer)  # 1-based within its file
    status: Mapped[str] = mapped_column(String(16), default=PageStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    warnings: Mapped[list | None] = mapped_column(JSON)
    timings: Mapped[dict | None] = mapped_column(JSON)  # seconds per stage
    result: Mapped[dict | None] = mapped_column(JSON)  # pipeline.result.Page.to_dict()
    image_key: Mapped[str | None] = mapped_column(String(300))  # storage key of the rasterised page
    worker: Mapped[str | None] = mapped_column(String(200))  # hostname of the last worker that ran it
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    job: Mapped[Job] = relationship(back_populates="pages")
    file: Mapped[JobFile] = relationship()


class InputBlob(Base):
    """How many job files use the upload stored under inputs/<sha256>.

    The row is the lock that submitting and deleting jobs take on an upload
    (db/blobs.py): a blob is removed only by whoever takes its count to zero
    while holding the row, so a job being submitted at the same time either
    waits and stores the bytes again, or has already been counted.
    """

    __tablename__ = "input_blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    refs: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
