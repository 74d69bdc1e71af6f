"""The Flask application factory.

gunicorn 'api.app:create_app()'     production (use --threads: /api/ocr waits for its job)
python -m api                       development server on settings.api_host:api_port
"""

from __future__ import annotations

import logging

from flask import Flask

from api import compat, dashboard, jobs, keys, multipart, ops, result_schema, web
from api.errors import register_error_handlers
from api.services import Services
from api.validation import register_input_checks
from core.settings import Settings, get_settings

FORM_FIELDS_SLACK = 64 * 1024  # room for the form fields beside the files


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or get_settings()
    multipart.install()  # uploads parsed without compiling patterns per request (api/multipart.py)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes + FORM_FIELDS_SLACK
    app.json.ensure_ascii = False  # Chinese stays readable in JSON answers
    app.json.sort_keys = False
    app.extensions["ocr"] = Services.build(settings)
    register_error_handlers(app)
    register_input_checks(app)
    for blueprint in (
        web.bp,
        dashboard.bp,
        jobs.bp,
        keys.bp,
        compat.bp,
        ops.bp,
        result_schema.bp,
    ):  # web first: its GET /v1/index page wins
        app.register_blueprint(blueprint)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return app
