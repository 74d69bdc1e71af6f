"""The browser pages: the upload-and-read page (/ and GET /v1/index) and the operations dashboard (/dashboard).

The pages are static shells: they carry no data and need no key to load.
Their scripts send the key the user pasted (kept in localStorage) as
X-API-Key to the JSON API, which does all the checking. Templates and
assets live in web/ at the repository root; nothing is built.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from flask import Blueprint, render_template, url_for

from core.formats import EXTENSIONS

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"
STATIC_ROOT = WEB_ROOT / "static"

# "/static" is the Flask app's own static route; ours must not collide with it.
bp = Blueprint(
    "web",
    __name__,
    template_folder=str(WEB_ROOT / "templates"),
    static_folder=str(STATIC_ROOT),
    static_url_path="/assets",
)

# Scripts only from our own origin; images also from blob: URLs (page images fetched with the key).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


@functools.cache
def assets_version() -> str:
    """Changes whenever an asset changes, so browsers never run a stale script against a newer API."""
    digest = hashlib.sha256()
    for path in sorted(STATIC_ROOT.rglob("*")):
        if path.is_file():
            stat = path.stat()
            digest.update(f"{path.relative_to(STATIC_ROOT)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:10]


def asset(filename: str) -> str:
    return url_for("web.static", filename=filename, v=assets_version())


@bp.app_context_processor
def _template_helpers():
    return {"asset": asset}


def _page(template: str, **context):
    response = render_template(template, **context), 200
    headers = {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-cache",
    }
    return (*response, headers)


@bp.get("/")
@bp.get("/v1/index")
def upload_page():
    return _page("upload.html")


@bp.get("/dashboard")
@bp.get("/dashboard/")
def dashboard():
    return _page("dashboard.html", job_id="", output_formats=",".join(EXTENSIONS))


@bp.get("/dashboard/jobs/<job_id>")
def dashboard_job(job_id: str):
    return _page("dashboard.html", job_id=job_id, output_formats=",".join(EXTENSIONS))
