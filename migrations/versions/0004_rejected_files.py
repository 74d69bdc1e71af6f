"""Files refused at upload while the rest of their request was accepted: jobs.rejected_files.

Revision ID: 0004_rejected_files
Revises: 0003_input_blobs
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_rejected_files"
down_revision = "0003_input_blobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no default: jobs that exist already had every file accepted (a bad one refused the request).
    op.add_column("jobs", sa.Column("rejected_files", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("jobs", "rejected_files")
