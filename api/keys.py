"""/v1/keys: API keys over HTTP (admin keys only, except /v1/keys/me).

The plain key is in the answer to its creation and nowhere else, ever.
"""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify, request
from sqlalchemy import select

from api.auth import require_admin, require_key
from api.representations import timestamp
from api.schemas import MAX_DB_BIGINT, KeyCreate, validate
from api.services import services
from core.errors import NotFound
from db.keys import create_key
from db.models import ApiKey, utcnow

bp = Blueprint("keys", __name__)


def key_view(record: ApiKey) -> dict:
    return {
        "id": record.id,
        "name": record.name,
        "prefix": record.prefix,
        "is_admin": record.is_admin,
        "rate_limit": f"{record.rate_limit}/{record.rate_window}s" if record.rate_limit is not None else None,
        "quota_pages": record.quota_pages,
        "pages_used": record.pages_used,
        "created_at": timestamp(record.created_at),
        "revoked_at": timestamp(record.revoked_at),
    }


@bp.post("/v1/keys")
@require_admin
def create():
    body = validate(KeyCreate, request.get_json(silent=True) or request.form)
    with services().db.session() as s:
        new = create_key(s, body.name, admin=body.admin, rate_limit=body.rate_limit, quota_pages=body.quota_pages)
        view = key_view(new.record) | {"key": new.key, "webhook_secret": new.record.webhook_secret}
    response = jsonify(view)
    response.status_code = 201
    return response


@bp.get("/v1/keys")
@require_admin
def list_keys():
    with services().db.session() as s:
        records = list(s.scalars(select(ApiKey).where(ApiKey.key_hash != "!anonymous").order_by(ApiKey.id)))
        return jsonify({"keys": [key_view(r) for r in records]})


@bp.get("/v1/keys/me")
@require_key
def me():
    with services().db.session() as s:
        record = s.get(ApiKey, g.api_key.id)
        return jsonify(key_view(record) | {"webhook_secret": record.webhook_secret})


@bp.delete("/v1/keys/<int:key_id>")
@require_admin
def revoke(key_id: int):
    with services().db.session() as s:
        record = s.get(ApiKey, key_id) if key_id <= MAX_DB_BIGINT else None  # a larger id is no key, not a database error
        if record is None:
            raise NotFound(f"No key {key_id}.")
        if record.revoked_at is None:
            record.revoked_at = utcnow()
        key_hash = record.key_hash
    services().key_cache.forget(key_hash)  # other API processes trust it for key_cache_seconds more
    return Response(status=204)
