"""Submits recorded together (api/group_commit.py, api/submission.record_and_send) and their split_job
messages pushed straight onto Redis (worker/queueing.RedisPublisher), against the real PostgreSQL,
Redis and Celery worker."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from PIL import Image
from sqlalchemy import select

from db.keys import create_key
from db.models import Job, JobFile
from worker.celery_app import make_celery
from worker.queueing import SPLIT_JOB, fast_publisher

pytestmark = pytest.mark.integration


def page(seed: int) -> bytes:
    image = Image.new("RGB", (40, 40), "white")
    image.putpixel((seed % 40, seed // 40 % 40), (seed % 251, 0, 0))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def test_concurrent_submits_are_each_recorded_once_and_run(app, keys, alice):
    """Sixteen requests at once, three of them with one client_request_token and two with the same
    bytes: every request is answered, the token makes one job, every job has its files and is read."""
    run = uuid.uuid4().hex[:8]
    seeds = [*range(12), 3]  # the last repeats an upload

    def one(n: int):
        token = f"{run}-same" if n >= 13 else f"{run}-{n}"
        data = {"client_request_token": token, "outputs": "json", "file": (io.BytesIO(page(seeds[min(n, 12)])), f"p{n}.png")}
        return app.test_client().post("/v1/jobs", headers=alice.headers, data=data)

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(one, range(16)))
    assert all(a.status_code == 202 for a in answers), [a.json for a in answers]
    same = {a.json["job_id"] for a in answers[13:]}
    assert len(same) == 1
    assert sum(1 for a in answers[13:] if a.headers.get("Idempotent-Replayed") != "true") == 1
    job_ids = {a.json["job_id"] for a in answers}
    assert len(job_ids) == 14
    with app.extensions["ocr"].db.session() as s:
        files = s.execute(select(JobFile.job_id, JobFile.filename).where(JobFile.job_id.in_(job_ids))).all()
    assert sorted(job_id for job_id, _ in files) == sorted(job_ids)
    for job_id in job_ids:
        assert alice.wait(job_id)["status"] == "succeeded"


def test_a_key_over_its_quota_is_refused_alone_in_a_batch(app, alice):
    """record_and_send with two submissions in one batch: the one whose key has used its quota gets
    quota_exceeded and leaves no job; the other is recorded and sent."""
    from api.auth import Caller
    from api.submission import JobOptions, RecordedJob, Submission, Upload, record_and_send
    from db.keys import find_key

    svc = app.extensions["ocr"]
    with svc.db.session() as s:
        used_up = create_key(s, f"used-up-{uuid.uuid4().hex[:6]}", quota_pages=0).key
    with svc.db.session() as s:
        full, fine = Caller.of(find_key(s, used_up)), Caller.of(find_key(s, alice.headers["Authorization"].split()[1]))

    def submission(caller: Caller, seed: int) -> Submission:
        data = page(1000 + seed)
        upload = Upload("p.png", data, hashlib.sha256(data).hexdigest())
        return Submission(caller, [upload], JobOptions(outputs=("json",)), ())

    refused, created = record_and_send(svc, [submission(full, 1), submission(fine, 2)])
    assert getattr(refused, "code", None) == "quota_exceeded"
    assert isinstance(created, RecordedJob)
    assert [(f.position, f.filename) for f in created.files] == [(0, "p.png")]
    with svc.db.session() as s:
        assert s.scalars(select(Job.id).where(Job.api_key_id == full.id)).all() == []
    assert alice.wait(created.id)["status"] == "succeeded"


def test_the_fast_publisher_pushes_what_send_task_pushes(platform):
    """The same message as Celery's send_task, field for field, apart from the ids each send makes:
    both pushed under a key prefix no worker reads, then compared."""
    prefix = f"fast-publish-{uuid.uuid4().hex[:8]}:"
    settings = dataclasses.replace(platform.settings, broker_key_prefix=prefix)
    celery = make_celery(settings)
    client = redis.Redis.from_url(settings.broker_url)
    try:
        publisher = fast_publisher(celery, client, prefix)
        assert publisher is not None
        celery.send_task(SPLIT_JOB, args=["job-by-celery"])
        publisher.publish(SPLIT_JOB, ["job-fast-1", "job-fast-2"])
        raw = client.lrange(f"{prefix}ocr.jobs", 0, -1)
        assert len(raw) == 3
        by_celery, *fast = sorted((json.loads(r) for r in raw), key=lambda m: m["headers"]["argsrepr"])
        fast_first = next(m for m in fast if m["headers"]["argsrepr"] == "['job-fast-1']")

        def comparable(message: dict) -> dict:
            message = json.loads(json.dumps(message))
            args, kwargs, embed = json.loads(base64.b64decode(message.pop("body")))
            task_id = message["headers"]["id"]
            assert message["headers"]["root_id"] == message["properties"]["correlation_id"] == task_id
            for field in ("id", "root_id", "argsrepr"):
                message["headers"].pop(field)
            for field in ("correlation_id", "delivery_tag"):
                message["properties"].pop(field)
            return {**message, "kwargs": kwargs, "embed": embed, "nargs": len(args)}

        assert comparable(fast_first) == comparable(by_celery)
        assert json.loads(base64.b64decode(fast_first["body"]))[0] == ["job-fast-1"]
        assert len({m["headers"]["id"] for m in fast}) == 2  # each message its own task id
        assert client.smembers(f"{prefix}_kombu.binding.ocr.jobs")  # the queue declared, as send_task does
    finally:
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
        client.close()
