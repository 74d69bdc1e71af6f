"""The dashboard's own figures for Prometheus, next to api.metrics' counts: the same queries as the dashboard.

Workers online (from heartbeats), the last hour's throughput and failure
ratio, and p50/p95 per pipeline stage and per job, as gauges over a window
(Prometheus can derive rates from api.metrics' counters; quantiles it cannot).
"""

from __future__ import annotations

import logging

from prometheus_client.core import GaugeMetricFamily

from api import dashboard_queries as q
from api.services import Services

log = logging.getLogger(__name__)

WINDOW_MINUTES = 60


class DashboardCollector:
    def __init__(self, svc: Services):
        self.svc = svc

    def collect(self):
        for section in (self._workers, self._throughput, self._stage_times):
            try:
                families = list(section())
            except Exception as exc:  # one unreadable section must not cost the scrape its other figures
                log.warning("Dashboard metrics %s unavailable: %s", section.__name__, exc)
                continue
            yield from families

    def _workers(self):
        with self.svc.db.session() as s:
            workers = q.workers(s, q.now_utc())
        online = GaugeMetricFamily(
            "ocr_workers_online", "Worker processes whose heartbeat is recent, by device.", labels=["device"]
        )
        busy = GaugeMetricFamily("ocr_workers_busy", "Worker processes reading a page now.")
        by_device: dict[str, int] = {}
        for w in workers:
            if w["online"]:
                device = w["device"].split(" ")[0]
                by_device[device] = by_device.get(device, 0) + 1
        for device, n in sorted(by_device.items()):
            online.add_metric([device], n)
        busy.add_metric([], sum(1 for w in workers if w["online"] and w["current_page"]))
        yield online
        yield busy

    def _throughput(self):
        totals = q.throughput(self.svc, WINDOW_MINUTES)["totals"]
        yield GaugeMetricFamily(
            "ocr_pages_per_minute",
            "Pages finished (done or failed) per minute over the last hour.",
            value=totals["pages_per_minute"],
        )
        yield GaugeMetricFamily(
            "ocr_jobs_per_minute", "Jobs finished per minute over the last hour.", value=totals["jobs_per_minute"]
        )
        ratio = totals["failure_ratio"]
        yield GaugeMetricFamily(
            "ocr_page_failure_ratio",
            "Share of pages finished in the last hour that failed.",
            value=0.0 if ratio is None else ratio,
        )

    def _stage_times(self):
        times = q.stage_times(self.svc, WINDOW_MINUTES)
        stage = GaugeMetricFamily(
            "ocr_stage_seconds", "Seconds per pipeline stage over the last hour's pages.", labels=["stage", "quantile"]
        )
        for name, spread in times["stages"].items():
            for quantile in ("p50", "p95"):
                if spread[quantile] is not None:
                    stage.add_metric([name, "0.5" if quantile == "p50" else "0.95"], spread[quantile])
        yield stage
        job = GaugeMetricFamily(
            "ocr_job_seconds", "Seconds from submission to the end, over the last hour's finished jobs.", labels=["quantile"]
        )
        spread = times["job_end_to_end"]
        for quantile in ("p50", "p95"):
            if spread[quantile] is not None:
                job.add_metric(["0.5" if quantile == "p50" else "0.95"], spread[quantile])
        yield job
