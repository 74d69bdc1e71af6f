"""Work stranded the way a lost message strands it: a worker process whose Redis is down runs real tasks.

    python -m tests.integration.stranding SPEC_JSON

The process's OCR_BROKER_URL points at a port nobody listens on (Redis stopped).
It records a job as the API does (rows, then the upload in storage) and, as
SPEC asks, runs split_job, run_page for each page and finish_job with Celery's
``apply`` in this process: every database write happens, every message they
send next is lost. Prints {"job_id": ...}.

SPEC: {"api_key_id": int, "files": [[path, name], ...], "outputs": "json,txt",
       "callback_url": str | null, "tasks": ["split", "pages", "finish"]}
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from sqlalchemy import select

from core.settings import get_settings
from db.models import Job, JobFile, JobStatus, Page
from db.session import get_database
from storage import get_storage, input_key


def record_job(spec: dict) -> str:
    settings = get_settings()
    storage = get_storage(settings)
    with get_database(settings.database_url).session() as s:
        job = Job(
            api_key_id=spec["api_key_id"],
            status=JobStatus.QUEUED,
            outputs=spec.get("outputs", "json,txt"),
            callback_url=spec.get("callback_url"),
        )
        s.add(job)
        s.flush()
        for position, (path, name) in enumerate(spec["files"]):
            data = Path(path).read_bytes()
            sha256 = hashlib.sha256(data).hexdigest()
            storage.put_if_absent(input_key(sha256), data)
            s.add(JobFile(job_id=job.id, position=position, filename=name, sha256=sha256, size_bytes=len(data)))
        return job.id


def main(spec: dict) -> None:
    job_id = record_job(spec)
    from worker import tasks  # the worker's own task code, bound to this process's unreachable Redis

    if "split" in spec["tasks"]:
        tasks.split_job.apply(args=[job_id])
    if "pages" in spec["tasks"]:
        with get_database(get_settings().database_url).session() as s:
            page_ids = list(s.scalars(select(Page.id).where(Page.job_id == job_id).order_by(Page.page_number)))
        for page_id in page_ids:
            tasks.run_page.apply(args=[page_id])
    if "finish" in spec["tasks"]:
        tasks.finish_job.apply(args=[job_id])
    print(json.dumps({"job_id": job_id}))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
