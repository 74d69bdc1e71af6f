"""Sending task messages by name, so senders (the API) never import the task code or torch.

The API sends once and answers 503 when Redis is away. Workers pass ``patience``:
they have already committed the state the message is for, so they keep trying
(backoff with jitter) through a Redis restart; if Redis stays away longer, the
reconciler (worker/reconciler.py) sends the message once it finds it missing.

``RedisPublisher`` is the API's way to send split_job: the message Celery's send_task would put
on kombu's Redis list, built with Celery's own task-message code (protocol 2) and kombu's own
serializer and body codec, then pushed with one LPUSH per queue for however many jobs a group
commit recorded (api/submission.py), on the API's pooled Redis client. send_task costs 0.45 ms
of CPU per message here, most of it kombu's producer and channel machinery (a Redis client made
per publish); this costs about a tenth of that. Workers consume these messages as any other.
"""

from __future__ import annotations

import logging
import threading
import time

import redis
from celery import Celery
from kombu.exceptions import OperationalError as KombuOperationalError
from kombu.serialization import dumps as serialize_body
from kombu.transport.virtual.base import Base64
from kombu.utils.json import dumps as kombu_json
from kombu.utils.uuid import uuid
from redis.exceptions import RedisError

from core.backoff import backoff_delay
from core.errors import QueueUnavailable

log = logging.getLogger(__name__)

SPLIT_JOB = "worker.tasks.split_job"
RUN_PAGE = "worker.tasks.run_page"
FINISH_JOB = "worker.tasks.finish_job"
SEND_WEBHOOK = "worker.tasks.send_webhook"

_BROKER_ERRORS = (KombuOperationalError, RedisError, OSError)


def _patiently(send, what: str, patience: float) -> None:
    deadline = time.monotonic() + patience
    attempt = 0
    while True:
        try:
            send()
            return
        except _BROKER_ERRORS as exc:
            delay = backoff_delay(attempt, base=0.5, cap=10.0)
            if time.monotonic() + delay > deadline:
                raise QueueUnavailable(f"The job queue is not reachable: {exc}") from exc
            log.warning("Could not send %s (%s); trying again in %.1f s", what, exc, delay)
            time.sleep(delay)
            attempt += 1


def enqueue(celery: Celery, task: str, *args, countdown: float | None = None, patience: float = 0) -> None:
    _patiently(lambda: celery.send_task(task, args=list(args), countdown=countdown), f"{task}{tuple(args)}", patience)


def enqueue_pages(celery: Celery, page_ids: list[int], patience: float = 0) -> None:
    def send() -> None:
        # One producer connection for the whole batch: a 500-page PDF is 500 messages.
        with celery.producer_or_acquire() as producer:
            for page_id in page_ids:
                celery.send_task(RUN_PAGE, args=[page_id], producer=producer)

    _patiently(send, f"{len(page_ids)} page(s)", patience)


class RedisPublisher:
    """Task messages straight onto kombu's Redis lists, as Celery's send_task would put them there.

    For a Celery app on a ``redis://`` (or ``rediss://``) broker without priorities or countdowns:
    each message is ``celery.amqp.as_task_v2``'s headers, properties and body, serialized as the
    app's task_serializer, its body base64-encoded, with the delivery details kombu's virtual
    channel adds (delivery mode 2, the anonymous exchange and the queue as routing key, priority 0,
    a delivery tag), and pushed onto ``<global_keyprefix><queue>``, the list a worker's BRPOP reads.
    The queue's binding is declared once per process through kombu, as send_task does before its
    first message. tests/integration/test_group_commit.py compares the result with send_task's.
    """

    def __init__(self, celery: Celery, client: redis.Redis, key_prefix: str, routes: dict[str, dict]):
        self.celery = celery
        self.client = client
        self.key_prefix = key_prefix
        self.routes = routes
        self._declared: set[str] = set()
        self._lock = threading.Lock()
        self._encode = Base64().encode

    def message(self, task: str, arg) -> tuple[str, str]:
        """(queue, the JSON kombu would push) for ``task(arg)``."""
        queue = self.routes[task]["queue"]
        task_id = uuid()
        headers, properties, body, _sent_event = self.celery.amqp.as_task_v2(
            task_id, task, args=[arg], reply_to=self.celery.thread_oid, ignore_result=None
        )
        content_type, content_encoding, payload = serialize_body(body, serializer=self.celery.conf.task_serializer)
        properties["delivery_mode"] = 2
        properties["delivery_info"] = {"exchange": "", "routing_key": queue}
        properties["priority"] = 0
        properties["body_encoding"] = "base64"
        properties["delivery_tag"] = uuid()
        message = {
            "body": self._encode(payload),
            "content-encoding": content_encoding,
            "content-type": content_type,
            "headers": headers,
            "properties": properties,
        }
        return queue, kombu_json(message)

    def publish(self, task: str, args: list) -> None:
        """One message per arg, in one LPUSH per queue (Redis runs each LPUSH whole, or not at all).
        Raises QueueUnavailable when Redis cannot take them."""
        if not args:
            return
        by_queue: dict[str, list[str]] = {}
        for arg in args:
            queue, raw = self.message(task, arg)
            by_queue.setdefault(queue, []).append(raw)
        try:
            self._declare(by_queue)
            if len(by_queue) == 1:
                ((queue, raws),) = by_queue.items()
                self.client.lpush(self.key_prefix + queue, *raws)
            else:
                pipe = self.client.pipeline(transaction=False)
                for queue, raws in by_queue.items():
                    pipe.lpush(self.key_prefix + queue, *raws)
                pipe.execute()
        except _BROKER_ERRORS as exc:
            raise QueueUnavailable(f"The job queue is not reachable: {exc}") from exc

    def _declare(self, queues) -> None:
        missing = [q for q in queues if q not in self._declared]
        if not missing:
            return
        with self._lock, self.celery.producer_or_acquire() as producer:
            for queue in missing:
                producer.maybe_declare(self.celery.amqp.queues[queue])
                self._declared.add(queue)


def fast_publisher(celery: Celery, client: redis.Redis, key_prefix: str) -> RedisPublisher | None:
    """A RedisPublisher for this app, or None when its broker is not plain Redis (then send_task)."""
    from worker.celery_app import TASK_ROUTES

    scheme = str(celery.conf.broker_url or "").split("://", 1)[0]
    if scheme not in ("redis", "rediss"):
        return None
    return RedisPublisher(celery, client, key_prefix, TASK_ROUTES)
