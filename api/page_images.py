"""Pictures of pages read from their own text layer, drawn when first asked for.

A born-digital PDF page under pdf_text=auto is never rendered by the worker -- skipping the
rendering is much of what makes it fast -- but the web page and API clients show a page's picture
under its boxes. The first GET of such a page's image renders it here, at the worker's DPI (so the
result's pixel coordinates fit it), stores it where the worker would have, and records its key.
"""

from __future__ import annotations

import io

from sqlalchemy import select, update

from api.services import Services
from db.models import JobFile, Page, PageStatus
from pipeline.loader import load_page
from pipeline.text_layer import TEXT_SOURCE_LAYER
from storage import input_key, page_image_key


def draw_text_layer_page(svc: Services, job_id: str, page_number: int) -> str | None:
    """The storage key of the page's picture, drawn now; None when the page is not one read from its text."""
    with svc.db.session() as s:
        row = s.execute(
            select(Page.id, Page.status, Page.result, Page.source_page, JobFile.sha256)
            .join(JobFile, Page.file_id == JobFile.id)
            .where(Page.job_id == job_id, Page.page_number == page_number)
        ).first()
    if row is None or row.status != PageStatus.DONE or (row.result or {}).get("text_source") != TEXT_SOURCE_LAYER:
        return None
    image = load_page(svc.storage.get(input_key(row.sha256)), row.source_page, svc.settings.pdf_dpi)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    key = page_image_key(job_id, page_number)
    svc.storage.put(key, buffer.getvalue())
    with svc.db.session() as s:
        recorded = s.execute(update(Page).where(Page.id == row.id).values(image_key=key)).rowcount
    if not recorded:  # the job was deleted meanwhile: leave nothing behind
        svc.storage.delete(key)
        return None
    return key
