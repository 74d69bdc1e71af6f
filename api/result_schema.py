"""GET /schemas/result-v2.json: the JSON Schema of the result documents, open to anyone.

Generated from the result dataclasses (pipeline/result.py), so the schema cannot drift from
what ``/v1/jobs/<id>/result``, ``result.json``, ``ocr run`` and the web page are given.
"""

from __future__ import annotations

import functools

from flask import Blueprint, jsonify

from pipeline.result import json_schema

bp = Blueprint("result_schema", __name__)

SCHEMA_PATH = "/schemas/result-v2.json"


@functools.cache
def _schema() -> dict:
    return json_schema()


@bp.get(SCHEMA_PATH)
def result_schema():
    response = jsonify(_schema())
    response.content_type = "application/schema+json"
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response
