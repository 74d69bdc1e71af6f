"""Every request's text is checked (core/text.py) before its handler runs.

Werkzeug decodes with errors="replace", so bytes that are not UTF-8 arrive as
U+FFFD, and the raw path and query are checked as bytes as well. The path, the
query string, the form fields, the uploaded files' names and a JSON body's
strings are checked once, up front, and a bad one answers 400
``invalid_characters`` before anything is stored.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from flask import Flask, request

from api.errors import compat_ocr_error_response
from core.errors import InvalidCharacters
from core.text import check_text


def _check_raw_utf8(raw: str, what: str, *, quoted: bool) -> None:
    """WSGI hands over the request line as latin-1 (the path already unquoted, the query not); the
    bytes it stands for must be UTF-8."""
    try:
        data = raw.encode("latin-1")
    except UnicodeEncodeError:
        data = raw.encode("utf-8", "surrogateescape")
    if quoted:
        data = unquote_to_bytes(data)
    try:
        check_text(data.decode("utf-8"), what)
    except UnicodeDecodeError as exc:
        raise InvalidCharacters(f"{what} contains bytes that are not UTF-8 (at byte {exc.start}).") from None


def _check_json(value, where: str = "") -> None:
    if isinstance(value, str):
        check_text(value, f"The JSON field {where!r}" if where else "The JSON body")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(str(key), "A JSON field name")
            _check_json(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for item in value:
            _check_json(item, where)


def check_request() -> None:
    environ = request.environ
    _check_raw_utf8(environ.get("PATH_INFO", ""), "The URL path", quoted=False)
    _check_raw_utf8(environ.get("QUERY_STRING", "").replace("+", " "), "The query string", quoted=True)
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str):
            check_text(value, f"The {name} in the URL")
    for name, value in request.args.items(multi=True):
        check_text(value, f"The query parameter {name!r}")
    if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form, files = request.form, request.files
        if request.mimetype == "multipart/form-data" and (request.content_length or 0) > 0 and not form and not files:
            # Werkzeug drops a whole multipart body whose part headers it cannot decode.
            raise InvalidCharacters("The multipart body could not be read: a part header is malformed or not UTF-8.")
        for name, value in form.items(multi=True):
            check_text(name, "A form field name")
            check_text(value, f"The form field {name!r}")
        for name, upload in files.items(multi=True):
            check_text(name, "A form field name")
            check_text(upload.filename or "", f"The file name {upload.filename!r}")
    elif request.is_json:
        raw = request.get_data(cache=True)
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidCharacters(f"The JSON body contains bytes that are not UTF-8 (at byte {exc.start}).") from None
        _check_json(request.get_json(silent=True))


def register_input_checks(app: Flask) -> None:
    @app.before_request
    def _check():
        try:
            check_request()
        except InvalidCharacters as err:
            if request.blueprint == "compat":  # the earlier demo's clients read {"success": false, ...}
                return compat_ocr_error_response(err)
            raise
        return None
