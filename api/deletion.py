"""Deleting a job: its rows, its page images and outputs, and its uploads unless another job shares them.

Deleting a running job is allowed: its workers find the rows gone and stop
(a page that was being read removes the image it wrote). Uploads are stored
once per content (sha256) and counted per job file (db/blobs.py); an upload
is removed in the same transaction that takes its count to zero, while the
count's row is locked, so a job submitted with the same bytes at that moment
is never left without its upload.
"""

from __future__ import annotations

import logging

from sqlalchemy import delete, select

from api.services import Services
from db.blobs import drop_references
from db.models import Job, JobFile, Page
from db.session import retry_conflicts
from storage import input_key, job_prefix

log = logging.getLogger(__name__)


def delete_job_data(svc: Services, job_id: str) -> bool:
    """Remove the job; False if there was none."""
    if not retry_conflicts(lambda: _delete_rows(svc, job_id)):
        return False
    svc.storage.delete_prefix(job_prefix(job_id))
    return True


def _delete_rows(svc: Services, job_id: str) -> bool:
    with svc.db.session() as s:
        # Locked, so two deletes of one job cannot both take its uploads' counts down.
        job = s.get(Job, job_id, with_for_update=True)
        if job is None:
            return False
        hashes = list(s.scalars(select(JobFile.sha256).where(JobFile.job_id == job_id)))
        s.execute(delete(Page).where(Page.job_id == job_id))
        s.execute(delete(JobFile).where(JobFile.job_id == job_id))
        s.execute(delete(Job).where(Job.id == job_id))
        drop_references(s, hashes, lambda sha256: svc.storage.delete(input_key(sha256)))
    return True
