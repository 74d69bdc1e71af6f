"""API keys, request options and uploads, error mapping, the admin CLI and the OpenAPI document."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest
from werkzeug.datastructures import FileStorage, MultiDict

from api.errors import status_for
from api.submission import parse_options, read_uploads
from core import errors as E
from core.formats import DEFAULT_OUTPUTS as OUTPUTS
from core.settings import REPO_ROOT
from db.keys import anonymous_key, create_key, find_key, hash_key, parse_rate_limit
from db.models import ApiKey, utcnow


@pytest.mark.parametrize(
    ("spec", "expected"), [("120/min", (120, 60)), ("5/s", (5, 1)), ("1000/hour", (1000, 3600)), ("30", (30, 60))]
)
def test_rate_limit_specs(spec, expected):
    assert parse_rate_limit(spec) == expected


@pytest.mark.parametrize("spec", ["", "fast", "10/week", "-1/min"])
def test_bad_rate_limit_specs(spec):
    with pytest.raises(E.InvalidOption):
        parse_rate_limit(spec)


def test_keys_are_stored_hashed_and_found_by_hash(database):
    with database.session() as s:
        new = create_key(s, "alice", admin=True, rate_limit="10/min", quota_pages=7)
    assert new.key.startswith("ocr_") and len(new.key) > 40
    with database.session() as s:
        record = s.get(ApiKey, new.record.id)
        assert record.key_hash == hash_key(new.key) != new.key
        assert (record.is_admin, record.rate_limit, record.rate_window, record.quota_pages) == (True, 10, 60, 7)
        assert find_key(s, new.key).id == record.id
        assert find_key(s, new.key + "x") is None
        record.revoked_at = utcnow()
    with database.session() as s:
        assert find_key(s, new.key) is None
        assert anonymous_key(s).id == anonymous_key(s).id


def test_default_options():
    options = parse_options(MultiDict())
    assert (options.lang, options.page_spec, options.detect_orientation, options.outputs) == ("mix", None, True, OUTPUTS)


def test_options_are_parsed():
    options = parse_options(
        MultiDict({"lang": "EN", "pages": "1-3,5", "detect_orientation": "false", "outputs": "pdf, txt,pdf",
                   "client_request_token": "batch-7:a", "job_tag": "invoices", "callback_url": "https://x.test/hook"})
    )  # fmt: skip
    assert options.lang == "en" and options.page_spec == "1-3,5" and options.detect_orientation is False
    assert options.outputs == ("pdf", "txt")
    assert (options.client_request_token, options.job_tag, options.callback_url) == (
        "batch-7:a",
        "invoices",
        "https://x.test/hook",
    )


def _upload(data: bytes, name: str) -> FileStorage:
    return FileStorage(io.BytesIO(data), filename=name)


def test_uploads_are_checked_by_their_bytes():
    pdf = b"%PDF-1.7\n..."
    (upload,), rejected = read_uploads([_upload(pdf, "a.pdf")], 1000, 5)
    assert upload.filename == "a.pdf" and len(upload.sha256) == 64 and rejected == []
    with pytest.raises(E.UnsupportedFormat, match="notes.png"):
        read_uploads([_upload(b"hello there", "notes.png")], 1000, 5)
    with pytest.raises(E.EmptyFile):
        read_uploads([_upload(b"", "e.pdf")], 1000, 5)
    with pytest.raises(E.FileTooLarge):
        read_uploads([_upload(pdf + b"x" * 2000, "big.pdf")], 1000, 5)
    with pytest.raises(E.InputError):
        read_uploads([], 1000, 5)
    with pytest.raises(E.InputError):
        read_uploads([_upload(pdf, f"{n}.pdf") for n in range(6)], 10_000, 5)


def test_one_bad_file_does_not_refuse_the_others():
    pdf = b"%PDF-1.7\n..."
    files = [_upload(b"hello", "notes.png"), _upload(pdf, "a.pdf"), _upload(b"", "e.pdf"), _upload(pdf, "b.pdf")]
    uploads, rejected = read_uploads(files, 1000, 5)
    assert [(u.index, u.filename) for u in uploads] == [(1, "a.pdf"), (3, "b.pdf")]
    assert [r.as_dict() for r in rejected] == [
        {
            "index": 0,
            "filename": "notes.png",
            "code": "unsupported_format",
            "message": "The file is not a supported image (PNG, JPEG, TIFF, BMP, WebP) or a PDF.",
        },
        {"index": 2, "filename": "e.pdf", "code": "empty_file", "message": "The file is empty."},
    ]
    # A file that would take the request over the size limit is refused; the ones before it stay.
    uploads, rejected = read_uploads([_upload(pdf + b"x" * 600, "a.pdf"), _upload(pdf + b"y" * 600, "b.pdf")], 1000, 5)
    assert [u.filename for u in uploads] == ["a.pdf"]
    assert [(r.filename, r.error.code) for r in rejected] == [("b.pdf", "file_too_large")]


def test_a_request_of_bad_files_only_is_refused_with_every_files_error():
    with pytest.raises(E.UnsupportedFormat) as refused:
        read_uploads([_upload(b"hello", "notes.png"), _upload(b"", "e.pdf")], 1000, 5)
    err = refused.value
    assert status_for(err) == 415 and "notes.png" in err.message and "e.pdf" in err.message
    assert [(r["index"], r["filename"], r["code"]) for r in err.details["rejected"]] == [
        (0, "notes.png", "unsupported_format"),
        (1, "e.pdf", "empty_file"),
    ]


@pytest.mark.parametrize(
    ("err", "status"),
    [
        (E.UnsupportedFormat(), 415),
        (E.FileTooLarge(), 413),
        (E.CorruptFile(), 400),
        (E.InvalidPageRange(), 400),
        (E.Unauthorized(), 401),
        (E.Forbidden(), 403),
        (E.NotFound(), 404),
        (E.Conflict(), 409),
        (E.RateLimited(retry_after=3), 429),
        (E.QuotaExceeded(), 429),
        (E.QueueUnavailable(), 503),
        (E.StorageUnavailable(), 503),
        (E.ModelError(), 500),
    ],
)
def test_errors_map_to_http_statuses(err, status):
    assert status_for(err) == status


def test_openapi_describes_every_route(settings):
    """Every route of the job API's blueprints is in /openapi.json, and every path there exists."""
    from api.app import create_app
    from api.openapi import openapi_document

    app = create_app(settings)
    routes, ours = set(), set()
    for rule in app.url_map.iter_rules():
        path = rule.rule.replace("<int:", "<").replace("<", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((path, method.lower()))
            if rule.endpoint.split(".")[0] in ("jobs", "keys", "compat", "ops", "dashboard", "result_schema"):
                ours.add((path, method.lower()))
    documented = {(path, method) for path, ops in openapi_document()["paths"].items() for method in ops}
    assert ours <= documented
    assert documented <= routes


def test_openapi_document_is_valid():
    from openapi_spec_validator import validate

    from api.openapi import openapi_document

    validate(openapi_document())


def test_admin_cli_creates_a_key_printed_once_on_stdout(tmp_path):
    env = {"OCR_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT)}
    upgrade = subprocess.run(
        [sys.executable, "-m", "api.admin", "db", "upgrade"], env=env, cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert upgrade.returncode == 0, upgrade.stderr
    made = subprocess.run(
        [sys.executable, "-m", "api.admin", "keys", "create", "--name", "ops", "--admin", "--rate-limit", "60/min", "--quota-pages", "100"],
        env=env, cwd=REPO_ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("ocr_") and "\n" not in key
    assert "webhook_secret" in made.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "api.admin", "keys", "list"], env=env, cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert "ops" in listed.stdout and key not in listed.stdout
    as_json = subprocess.run(
        [sys.executable, "-m", "api.admin", "keys", "create", "--name", "j", "--json"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert json.loads(as_json.stdout)["key"].startswith("ocr_")
    bad = subprocess.run(
        [sys.executable, "-m", "api.admin", "keys", "create", "--name", "x", "--rate-limit", "fast"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "error:" in bad.stderr and "Traceback" not in bad.stderr
