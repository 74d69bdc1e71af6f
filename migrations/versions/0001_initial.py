"""API keys, jobs, their files and their pages.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", BigId, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("rate_limit", sa.Integer(), nullable=True),
        sa.Column("rate_window", sa.Integer(), nullable=False),
        sa.Column("quota_pages", sa.BigInteger(), nullable=True),
        sa.Column("pages_used", sa.BigInteger(), nullable=False),
        sa.Column("webhook_secret", sa.String(64), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("revoked_at", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("api_key_id", BigId, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("lang", sa.String(8), nullable=False),
        sa.Column("page_spec", sa.String(200), nullable=True),
        sa.Column("detect_orientation", sa.Boolean(), nullable=False),
        sa.Column("outputs", sa.String(100), nullable=False),
        sa.Column("client_request_token", sa.String(128), nullable=True),
        sa.Column("job_tag", sa.String(128), nullable=True),
        sa.Column("callback_url", sa.String(2000), nullable=True),
        sa.Column("pages_total", sa.Integer(), nullable=False),
        sa.Column("pages_done", sa.Integer(), nullable=False),
        sa.Column("pages_failed", sa.Integer(), nullable=False),
        sa.Column("pages_cancelled", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("finish_requested_at", Timestamp, nullable=True),
        sa.Column("webhook_status", sa.String(20), nullable=True),
        sa.Column("webhook_attempts", sa.Integer(), nullable=False),
        sa.Column("webhook_error", sa.Text(), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("started_at", Timestamp, nullable=True),
        sa.Column("finished_at", Timestamp, nullable=True),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(["api_key_id"], ["api_keys.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("api_key_id", "client_request_token", name="uq_jobs_key_token"),
    )
    # The job list filters by key, status or tag and sorts newest first.
    op.create_index("ix_jobs_created", "jobs", ["created_at"])
    op.create_index("ix_jobs_key_created", "jobs", ["api_key_id", "created_at"])
    op.create_index("ix_jobs_status_created", "jobs", ["status", "created_at"])
    op.create_index("ix_jobs_tag_created", "jobs", ["job_tag", "created_at"])

    op.create_table(
        "job_files",
        sa.Column("id", BigId, nullable=False),
        sa.Column("job_id", sa.String(36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(500), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("format", sa.String(8), nullable=True),
        sa.Column("page_count", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id", "position", name="uq_job_files_position"),
    )
    op.create_index("ix_job_files_job_id", "job_files", ["job_id"])
    op.create_index("ix_job_files_sha256", "job_files", ["sha256"])  # is an upload still used by another job?

    op.create_table(
        "pages",
        sa.Column("id", BigId, nullable=False),
        sa.Column("job_id", sa.String(36), nullable=False),
        sa.Column("file_id", BigId, nullable=False),
        sa.Column("page_number", sa.Integer(), nullable=False),
        sa.Column("source_page", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("warnings", sa.JSON(), nullable=True),
        sa.Column("timings", sa.JSON(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("image_key", sa.String(300), nullable=True),
        sa.Column("worker", sa.String(200), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("started_at", Timestamp, nullable=True),
        sa.Column("finished_at", Timestamp, nullable=True),
        sa.ForeignKeyConstraint(["file_id"], ["job_files.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id", "page_number", name="uq_pages_job_number"),
    )
    op.create_index("ix_pages_file_id", "pages", ["file_id"])
    # The dashboard counts pages by status, finds the oldest waiting one and the recent throughput.
    op.create_index("ix_pages_status_created", "pages", ["status", "created_at"])
    op.create_index("ix_pages_finished", "pages", ["finished_at"])


def downgrade() -> None:
    op.drop_table("pages")
    op.drop_table("job_files")
    op.drop_table("jobs")
    op.drop_table("api_keys")
