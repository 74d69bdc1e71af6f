"""Deleting a job: its rows, its page images and outputs, and its uploads unless another job shares them.

Deleting a running job is allowed: its workers find the rows gone and stop
(a page that was being read removes the image it wrote). Uploads are stored
once per content (sha256), so an upload is removed only when no other job's
file points at it.
"""

from __future__ import annotations

import logging

from sqlalchemy import delete, func, select

from api.services import Services
from db.models import Job, JobFile, Page
from storage import input_key, job_prefix

log = logging.getLogger(__name__)


def delete_job_data(svc: Services, job_id: str) -> bool:
    """Remove the job; False if there was none."""
    with svc.db.session() as s:
        job = s.get(Job, job_id)
        if job is None:
            return False
        hashes = set(s.scalars(select(JobFile.sha256).where(JobFile.job_id == job_id)))
        s.execute(delete(Page).where(Page.job_id == job_id))
        s.execute(delete(JobFile).where(JobFile.job_id == job_id))
        s.execute(delete(Job).where(Job.id == job_id))

    svc.storage.delete_prefix(job_prefix(job_id))
    with svc.db.session() as s:
        still_used = set(
            s.scalars(select(JobFile.sha256).where(JobFile.sha256.in_(hashes)).group_by(JobFile.sha256).having(func.count() > 0))
        )
    for sha256 in hashes - still_used:
        svc.storage.delete(input_key(sha256))
    return True
