"""Operations dashboard: worker heartbeats, and indexes for what finished in the last hour.

Revision ID: 0002_dashboard
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_dashboard"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "worker_heartbeats",
        sa.Column("id", BigId, nullable=False),
        sa.Column("hostname", sa.String(200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("device", sa.String(100), nullable=False),
        sa.Column("queues", sa.String(200), nullable=True),
        sa.Column("current_page_id", sa.BigInteger(), nullable=True),
        sa.Column("current_since", Timestamp, nullable=True),
        sa.Column("pages_done", sa.Integer(), nullable=False),
        sa.Column("beat_interval", sa.Integer(), nullable=False),
        sa.Column("started_at", Timestamp, nullable=False),
        sa.Column("last_seen", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("hostname", "pid", name="uq_worker_heartbeats_host_pid"),
    )
    op.create_index("ix_worker_heartbeats_last_seen", "worker_heartbeats", ["last_seen"])
    # Pages and jobs finished per minute, and their times, over the last hour: one index range per status.
    # (With only a status index, SQLite's planner scans every page of that status.)
    op.create_index("ix_pages_status_finished", "pages", ["status", "finished_at"])
    op.create_index("ix_jobs_status_finished", "jobs", ["status", "finished_at"])


def downgrade() -> None:
    op.drop_index("ix_jobs_status_finished", table_name="jobs")
    op.drop_index("ix_pages_status_finished", table_name="pages")
    op.drop_index("ix_worker_heartbeats_last_seen", table_name="worker_heartbeats")
    op.drop_table("worker_heartbeats")
