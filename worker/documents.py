"""The Document of a job's read pages: one builder for the stored outputs (finish_job) and GET /result,
so that ``/result`` and ``/result.json`` are the same document made by the same code."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import JobFile, Page
from pipeline.result import Document
from pipeline.result import Page as ResultPage


def job_document(s: Session, lang: str, done: list[Page]) -> Document:
    """``done``: the job's read page rows, in page order. The rows, not the stored results, say
    where each page came from, so results stored before schema version 2 get it too."""
    file_ids = {p.file_id for p in done}
    files = {
        row.id: (row.filename, row.position)
        for row in s.execute(select(JobFile.id, JobFile.filename, JobFile.position).where(JobFile.id.in_(file_ids)))
    }
    pages = []
    for row in done:
        page = ResultPage.from_dict(row.result)
        page.page_number, page.source_page = row.page_number, row.source_page
        page.file_name, page.file_index = files.get(row.file_id, (None, None))
        pages.append(page)
    return Document(pages=pages, lang=lang)
