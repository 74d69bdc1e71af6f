"""Reference counts of stored uploads, so deleting a job never removes an upload another job uses.

Revision ID: 0003_input_blobs
Revises: 0002_dashboard
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_input_blobs"
down_revision = "0002_dashboard"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "input_blobs",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("refs", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256"),
    )
    # Uploads of the jobs that exist already: one reference per file row.
    op.execute(
        "INSERT INTO input_blobs (sha256, refs, created_at) "
        "SELECT sha256, COUNT(*), CURRENT_TIMESTAMP FROM job_files GROUP BY sha256"
    )


def downgrade() -> None:
    op.drop_table("input_blobs")
