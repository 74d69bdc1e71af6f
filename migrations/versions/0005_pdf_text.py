"""jobs.pdf_text: what a PDF page's own text layer is used for (auto | ocr | keep).

Revision ID: 0005_pdf_text
Revises: 0004_rejected_files
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_pdf_text"
down_revision = "0004_rejected_files"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("pdf_text", sa.String(8), nullable=False, server_default="auto"))
    # Jobs that exist already were asked for before the option, when every page was OCR'd: a queued
    # one still is, as its submitter expected; new jobs default to auto.
    op.execute("UPDATE jobs SET pdf_text = 'ocr'")


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("pdf_text")
