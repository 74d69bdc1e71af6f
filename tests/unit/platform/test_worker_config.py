"""Celery configuration, error translation, webhook signatures and migrations."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac

from billiard.exceptions import SoftTimeLimitExceeded
from sqlalchemy.exc import OperationalError

from core import errors as E
from core.settings import Settings
from worker.failures import error_record, is_retryable, job_error_from


def test_queues_have_their_own_routes():
    from worker.celery_app import app

    for task, queue in (("worker.tasks.run_page", "ocr.pages"), ("worker.tasks.split_job", "ocr.jobs"),
                        ("worker.tasks.finish_job", "ocr.finish"), ("worker.tasks.send_webhook", "ocr.finish")):  # fmt: skip
        route = app.amqp.router.route({}, task)
        # A shared exchange and key would copy every message into both queues.
        assert route["queue"].name == queue
        assert route["queue"].exchange.name == queue and route["queue"].routing_key == queue


def test_delivery_settings():
    from worker.celery_app import make_celery

    settings = dataclasses.replace(
        Settings.from_env(), page_soft_time_limit=30, page_hard_time_limit=40, broker_visibility_timeout=10
    )
    conf = make_celery(settings).conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert (conf.task_soft_time_limit, conf.task_time_limit) == (30, 40)
    # Never below the hard limit, or a slow page would be handed to a second worker while it runs.
    assert conf.broker_transport_options["visibility_timeout"] > 40


def test_run_page_goes_back_to_the_queue_on_hard_timeout():
    from worker.tasks import run_page

    assert run_page.acks_on_timeout is False


def test_error_records():
    assert error_record(E.CorruptFile("The JPEG is truncated.")) == {"code": "corrupt_file", "message": "The JPEG is truncated."}
    assert error_record(SoftTimeLimitExceeded())["code"] == "page_timeout"
    unexpected = error_record(KeyError("secret internals"))
    assert unexpected["code"] == "internal_error" and "secret" not in unexpected["message"]
    assert is_retryable(E.ResourceExhausted()) and is_retryable(MemoryError())
    assert is_retryable(OperationalError("SELECT 1", {}, Exception("connection refused")))
    assert not is_retryable(E.CorruptFile()) and not is_retryable(ValueError())
    assert job_error_from([{"code": "a", "message": "m"}, {"code": "b", "message": "n"}])["message"].endswith(
        "(1 more error(s); see files and pages)"
    )


def test_webhook_signature_is_hmac_sha256_of_timestamp_and_body():
    from worker.webhooks import sign

    body = b'{"job_id":"j"}'
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("s3cret", 1700000000, body) == "sha256=" + expected


def test_migrations_match_the_models(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import db.workers  # noqa: F401  (the dashboard's table, so every model is in the metadata)
    from api.admin import upgrade_database
    from db.models import Base
    from db.session import make_engine

    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade_database(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    engine.dispose()


def test_torch_threads_share_the_cores_among_pool_processes(monkeypatch):
    import dataclasses

    from core.settings import Settings
    from worker.celery_app import torch_threads_per_process

    monkeypatch.setattr("os.cpu_count", lambda: 8)
    settings = dataclasses.replace(Settings.from_env(), torch_threads=0)
    assert torch_threads_per_process(settings, 2) == 4
    assert torch_threads_per_process(settings, 16) == 1
    assert torch_threads_per_process(dataclasses.replace(settings, torch_threads=3), 2) == 3
