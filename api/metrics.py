"""Prometheus figures read from the database and the broker at scrape time.

Nothing is counted in process memory, so the figures survive restarts and
agree across API processes: jobs and pages by status, pages finished and
failed, attempts at pages, the oldest waiting page, and the
depth of each queue (Redis LLEN) plus messages taken but not yet acknowledged.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import redis
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from api.dashboard_metrics import DashboardCollector
from api.services import Services
from db.models import ApiKey, Job, JobStatus, Page, PageStatus
from worker.celery_app import QUEUES

log = logging.getLogger(__name__)


class PlatformCollector:
    def __init__(self, svc: Services):
        self.svc = svc

    def collect(self):
        yield from self._database_metrics()
        yield from self._queue_metrics()

    def _database_metrics(self):
        with self.svc.db.session() as s:
            jobs = dict(s.execute(select(Job.status, func.count()).group_by(Job.status)).all())
            pages = dict(s.execute(select(Page.status, func.count()).group_by(Page.status)).all())
            oldest = s.scalar(select(func.min(Page.created_at)).where(Page.status == PageStatus.QUEUED))
            attempts = s.scalar(select(func.coalesce(func.sum(Page.attempts), 0)))
            keys = s.scalar(select(func.count()).select_from(ApiKey).where(ApiKey.revoked_at.is_(None)))

        g = GaugeMetricFamily("ocr_jobs", "Jobs in the database by status.", labels=["status"])
        for status in JobStatus.ALL:
            g.add_metric([status], jobs.get(status, 0))
        yield g
        g = GaugeMetricFamily("ocr_pages", "Pages in the database by status.", labels=["status"])
        for status in PageStatus.ALL:
            g.add_metric([status], pages.get(status, 0))
        yield g
        # Gauges, not counters: deleting jobs removes their rows, and a counter must never go down.
        yield GaugeMetricFamily(
            "ocr_page_attempts",
            "Attempts at the pages in the database (above the page count: retries or crashes).",
            value=attempts or 0,
        )
        age = 0.0
        if oldest is not None:
            oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)
            age = max(0.0, (datetime.now(UTC) - oldest).total_seconds())
        yield GaugeMetricFamily("ocr_oldest_queued_page_age_seconds", "Age of the oldest page waiting for a worker.", value=age)
        yield GaugeMetricFamily("ocr_api_keys", "API keys that are not revoked.", value=keys or 0)

    def _queue_metrics(self):
        depth = GaugeMetricFamily("ocr_queue_depth", "Messages waiting in each broker queue.", labels=["queue"])
        unacked = GaugeMetricFamily("ocr_queue_unacked", "Messages taken by workers and not yet acknowledged.")
        up = GaugeMetricFamily("ocr_broker_up", "1 when the broker answered this scrape.")
        try:
            client = self.svc.redis
            for queue in QUEUES:
                depth.add_metric([queue], client.llen(self.svc.redis_key(queue)))
            unacked.add_metric([], client.hlen(self.svc.redis_key("unacked")))
            up.add_metric([], 1)
            yield depth
            yield unacked
        except redis.RedisError as exc:
            log.warning("Broker not reachable for metrics: %s", exc)
            up.add_metric([], 0)
        yield up


def render_metrics(svc: Services) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PlatformCollector(svc))
    registry.register(DashboardCollector(svc))  # workers, last hour's throughput and stage times (api/dashboard_metrics.py)
    return generate_latest(registry)
