"""Operations endpoints: liveness, readiness, Prometheus metrics and the OpenAPI document."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from api.auth import authenticate
from api.metrics import render_metrics
from api.openapi import openapi_document
from api.services import services
from core.errors import Forbidden

log = logging.getLogger(__name__)

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz():
    """The process answers; says nothing about its dependencies (that is /readyz)."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    svc = services()
    checks = {}
    for name, probe in (
        ("database", lambda: _database(svc)),
        ("broker", lambda: svc.redis.ping()),
        ("storage", lambda: svc.storage.check()),
    ):
        try:
            probe()
            checks[name] = "ok"
        except Exception as exc:  # a readiness probe reports, it does not raise
            log.warning("readyz: %s not ready: %s", name, exc)
            checks[name] = f"unavailable: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    response = jsonify({"status": "ok" if ready else "unavailable", "checks": checks})
    response.status_code = 200 if ready else 503
    return response


def _database(svc) -> None:
    with svc.db.session() as s:
        s.execute(text("SELECT 1 FROM alembic_version"))  # reachable and migrated


@bp.get("/metrics")
def metrics():
    """Admin keys only (Prometheus: ``authorization: {credentials: KEY}``), unless OCR_METRICS_PUBLIC is set:
    the figures describe every client's load, and each scrape costs several database queries."""
    svc = services()
    if not svc.settings.metrics_public and not authenticate().is_admin:
        raise Forbidden("/metrics needs an admin key (or OCR_METRICS_PUBLIC=true on a private network).")
    return Response(render_metrics(svc), content_type="text/plain; version=0.0.4; charset=utf-8")


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())
