"""JSON output: exactly ``Document.to_dict()``, so the schema lives in one place (pipeline/result.py)."""

from __future__ import annotations

import json

from pipeline.result import Document


def to_json(doc: Document) -> dict:
    return doc.to_dict()


def dumps(doc: Document, indent: int | None = 2) -> str:
    """UTF-8-friendly text (Chinese stays readable rather than \\u-escaped)."""
    return json.dumps(to_json(doc), ensure_ascii=False, indent=indent)
