"""Every answer of a documented route checked against /openapi.json as it leaves the app.

The integration tests install it on their app (conftest.py), so every request any
test makes -- a cancelled job, a failed one, a webhook's status, an outage's 503 -- is also a contract
check, beside the schemathesis run of tests/integration/test_contract.py. It validates against the
generated document itself (jsonschema, as schemathesis does), not the pydantic models, so what is
checked is what clients are told. Production apps do not install it: an answer is never refused for
its shape.
"""

from __future__ import annotations

import functools
import json
import re

from flask import Flask, Response, request
from jsonschema import Draft202012Validator

from api.openapi import openapi_document

_PARAM = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")


@functools.cache
def _document() -> dict:
    return openapi_document()


@functools.cache
def _validator(path: str, method: str, status: str, media_type: str) -> Draft202012Validator | None:
    answer = _document()["paths"][path][method]["responses"][status]
    schema = answer.get("content", {}).get(media_type, {}).get("schema")
    if schema is None:
        return None
    # $refs point into the document's components: validate with the document as the root.
    return Draft202012Validator({**schema, "components": _document()["components"]})


def problem(path: str, method: str, response: Response) -> str | None:
    """What is wrong with ``response`` to ``method path`` (a documented route), or None."""
    answers = _document()["paths"][path][method]["responses"]
    status = str(response.status_code)
    if status not in answers:
        return f"status {status} is not documented (documented: {', '.join(answers)})"
    content = answers[status].get("content")
    if not content:
        return None
    media_type = (response.mimetype or "").lower()
    if media_type not in content:
        return f"{status} answered {media_type or 'no content type'}; documented: {', '.join(content)}"
    for name, header in answers[status].get("headers", {}).items():
        if header.get("required") and name not in response.headers:
            return f"{status} without its {name} header"
    if media_type != "application/json" or response.direct_passthrough:
        return None
    validator = _validator(path, method, status, media_type)
    if validator is None:
        return None
    errors = sorted(validator.iter_errors(json.loads(response.get_data())), key=lambda e: list(e.absolute_path))
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path)
        return f"{status} body at /{where}: {errors[0].message[:300]}"
    return None


def install(app: Flask, report) -> None:
    """Call ``report(message)`` for every answer of a documented route that breaks the document."""

    @app.after_request
    def _check(response: Response) -> Response:
        rule = request.url_rule
        if rule is None:
            return response
        path = _PARAM.sub(r"{\1}", rule.rule)
        method = request.method.lower()
        if method not in _document()["paths"].get(path, {}):
            return response
        if (found := problem(path, method, response)) is not None:
            report(f"{request.method} {request.full_path.rstrip('?')}: {found}")
        return response
