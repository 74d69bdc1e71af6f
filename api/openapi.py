"""The OpenAPI 3 description of the HTTP API, written by hand and served at /openapi.json.

A test checks that every route of the app is described here and nothing else is.
"""

from __future__ import annotations

from copy import deepcopy


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict:
    return _json(_ref("Error"), description)


def _param(name: str, where: str, schema: dict, description: str, required: bool = False) -> dict:
    return {"name": name, "in": where, "required": required or where == "path", "schema": schema, "description": description}


JOB_ID = _param("job_id", "path", {"type": "string", "format": "uuid"}, "The job's id.")
AUTH_ERRORS = {"401": _error("No key, or an unknown or revoked key."), "429": _error("Rate limit or page quota reached.")}
NOT_FOUND = {"404": _error("No such job, or it belongs to another key.")}

STATUSES = ["queued", "running", "succeeded", "partial_success", "failed", "cancelling", "cancelled"]

SCHEMAS = {
    "Error": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string", "description": "Stable machine-readable code, e.g. unsupported_format."},
            "message": {"type": "string", "description": "What went wrong, for people."},
        },
    },
    "ErrorDetail": {
        "type": ["object", "null"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
    },
    "Accepted": {
        "type": "object",
        "required": ["job_id", "status"],
        "properties": {"job_id": {"type": "string", "format": "uuid"}, "status": {"type": "string", "enum": STATUSES}},
    },
    "JobSummary": {
        "type": "object",
        "properties": {
            "job_id": {"type": "string", "format": "uuid"},
            "status": {"type": "string", "enum": STATUSES},
            "lang": {"type": "string", "enum": ["zh", "en", "mix"]},
            "page_range": {"type": ["string", "null"]},
            "detect_orientation": {"type": "boolean"},
            "outputs": {"type": "array", "items": {"type": "string", "enum": ["json", "txt", "hocr", "pdf"]}},
            "job_tag": {"type": ["string", "null"]},
            "client_request_token": {"type": ["string", "null"]},
            "pages_total": {"type": "integer"},
            "pages_done": {"type": "integer"},
            "pages_failed": {"type": "integer"},
            "pages_cancelled": {"type": "integer"},
            "created_at": {"type": "string", "format": "date-time"},
            "started_at": {"type": ["string", "null"], "format": "date-time"},
            "finished_at": {"type": ["string", "null"], "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "expires_at": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "When the job and its files are deleted (OCR_RETENTION_DAYS after it ended); null: kept",
            },
            "error": _ref("ErrorDetail"),
        },
    },
    "Job": {
        "allOf": [
            _ref("JobSummary"),
            {
                "type": "object",
                "properties": {
                    "files": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "filename": {"type": "string"},
                                "sha256": {"type": "string"},
                                "size_bytes": {"type": "integer"},
                                "format": {"type": ["string", "null"]},
                                "page_count": {"type": ["integer", "null"]},
                                "status": {"type": "string", "enum": ["pending", "ready", "failed"]},
                                "error": _ref("ErrorDetail"),
                            },
                        },
                    },
                    "pages": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "page_number": {"type": "integer"},
                                "file_index": {"type": "integer"},
                                "source_page": {"type": "integer"},
                                "status": {"type": "string", "enum": ["queued", "running", "done", "failed", "cancelled"]},
                                "attempts": {"type": "integer"},
                                "warnings": {"type": "array", "items": {"type": "string"}},
                                "error": _ref("ErrorDetail"),
                                "timings": {"type": "object", "additionalProperties": {"type": "number"}},
                            },
                        },
                    },
                    "warnings": {"type": "array", "items": {"type": "object"}},
                    "callback_url": {"type": ["string", "null"]},
                    "webhook": {"type": ["object", "null"]},
                    "links": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            },
        ]
    },
    "Line": {
        "type": "object",
        "properties": {
            "text": {"type": "string"},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "polygon": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
            "bbox": {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4},
            "char_confidences": {"type": "array", "items": {"type": "number"}},
        },
    },
    "Page": {
        "type": "object",
        "properties": {
            "page_number": {"type": "integer"},
            "width": {"type": "integer"},
            "height": {"type": "integer"},
            "angle": {"type": "integer", "enum": [0, 90, 180, 270]},
            "angle_confidence": {"type": "number"},
            "skew": {"type": "number"},
            "lines": {"type": "array", "items": _ref("Line")},
            "timings": {"type": "object"},
            "warnings": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Result": {
        "type": "object",
        "properties": {
            "job_id": {"type": "string"},
            "status": {"type": "string", "enum": STATUSES},
            "complete": {"type": "boolean", "description": "True once the job has reached a final status."},
            "pages_total": {"type": "integer"},
            "lang": {"type": "string"},
            "pages": {"type": "array", "items": _ref("Page")},
        },
    },
    "Key": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "prefix": {"type": "string"},
            "is_admin": {"type": "boolean"},
            "rate_limit": {"type": ["string", "null"]},
            "quota_pages": {"type": ["integer", "null"]},
            "pages_used": {"type": "integer"},
            "created_at": {"type": "string", "format": "date-time"},
            "revoked_at": {"type": ["string", "null"], "format": "date-time"},
        },
    },
}

JOB_FORM = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {"type": "array", "items": {"type": "string", "format": "binary"}, "description": "One or more images or PDFs."},
        "lang": {"type": "string", "enum": ["zh", "en", "mix"], "default": "mix"},
        "pages": {"type": "string", "description": "Pages to read in each file, e.g. 1-3,5 (default all)."},
        "detect_orientation": {"type": "boolean", "default": True},
        "outputs": {"type": "string", "default": "json,txt,hocr,pdf", "description": "Comma-separated list."},
        "client_request_token": {"type": "string", "maxLength": 128, "description": "Same token, same key: same job."},
        "job_tag": {"type": "string", "maxLength": 128},
        "callback_url": {
            "type": "string",
            "format": "uri",
            "description": "POSTed a signed JSON when the job ends. http(s) only, no credentials; its host must resolve "
            "to public addresses only (checked at submit and again at delivery) unless OCR_WEBHOOK_ALLOW names it.",
        },
    },
}

PATHS = {
    "/v1/jobs": {
        "post": {
            "summary": "Submit a job",
            "description": "Stores the files and answers at once; poll the Location or wait for the callback. "
            "Callbacks carry X-OCR-Timestamp and X-OCR-Signature: sha256=HMAC-SHA256(webhook_secret, timestamp + '.' + body).",
            "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": JOB_FORM}}},
            "responses": {
                "202": {
                    **_json(_ref("Accepted"), "Accepted (or the job already made with this client_request_token)."),
                    "headers": {
                        "Location": {"schema": {"type": "string"}},
                        "Retry-After": {"schema": {"type": "integer"}},
                    },
                },
                "400": _error(
                    "Bad option, empty file, malformed page range, a callback_url that is refused (not http(s), "
                    "credentials, or an address inside the network), or bad text (invalid_characters)."
                ),
                "413": _error("The upload is too large."),
                "415": _error("A file is not a supported image or PDF."),
                "503": _error("The database, storage or queue is unavailable; nothing was stored (Retry-After)."),
                **AUTH_ERRORS,
            },
        },
        "get": {
            "summary": "List jobs, newest first",
            "parameters": [
                _param("status", "query", {"type": "string"}, "Comma-separated statuses."),
                _param("tag", "query", {"type": "string"}, "Only jobs with this job_tag."),
                _param("created_after", "query", {"type": "string", "format": "date-time"}, "ISO 8601."),
                _param("created_before", "query", {"type": "string", "format": "date-time"}, "ISO 8601."),
                _param("page", "query", {"type": "integer", "minimum": 1, "default": 1}, "Page of the list."),
                _param("per_page", "query", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}, "Jobs per page."),
                _param("all", "query", {"type": "boolean"}, "Admin keys: every key's jobs."),
                _param("key_id", "query", {"type": "integer"}, "Admin keys: jobs of this key."),
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "jobs": {"type": "array", "items": _ref("JobSummary")},
                            "page": {"type": "integer"},
                            "per_page": {"type": "integer"},
                            "total": {"type": "integer"},
                        },
                    },
                    "The jobs.",
                ),
                "400": _error("Bad filter."),
                **AUTH_ERRORS,
            },
        },
    },
    "/v1/jobs/{job_id}": {
        "get": {
            "summary": "A job's status, counters, files, pages and errors",
            "parameters": [JOB_ID],
            "responses": {"200": _json(_ref("Job"), "The job."), **NOT_FOUND, **AUTH_ERRORS},
        },
        "delete": {
            "summary": "Delete a job with its uploads, page images and results",
            "parameters": [JOB_ID],
            "responses": {"204": {"description": "Deleted."}, **NOT_FOUND, **AUTH_ERRORS},
        },
    },
    "/v1/jobs/{job_id}/cancel": {
        "post": {
            "summary": "Cancel a job: pages not started are dropped, running ones finish",
            "parameters": [JOB_ID],
            "responses": {
                "202": _json(_ref("Accepted"), "Cancelling (or cancelled)."),
                "409": _error("The job has already finished."),
                **NOT_FOUND,
                **AUTH_ERRORS,
            },
        }
    },
    "/v1/jobs/{job_id}/result": {
        "get": {
            "summary": "Results in the pipeline's JSON schema (pages read so far)",
            "parameters": [JOB_ID, _param("pages", "query", {"type": "string"}, "Only these pages of the job, e.g. 1-3,5.")],
            "responses": {
                "200": _json(_ref("Result"), "The pages read."),
                "400": _error("Bad page range."),
                **NOT_FOUND,
                **AUTH_ERRORS,
            },
        }
    },
    "/v1/jobs/{job_id}/result.{ext}": {
        "get": {
            "summary": "An assembled output: plain text, hOCR, searchable PDF or JSON",
            "parameters": [JOB_ID, _param("ext", "path", {"type": "string", "enum": ["txt", "hocr", "pdf", "json"]}, "Format.")],
            "responses": {
                "200": {
                    "description": "The output.",
                    "content": {
                        "text/plain": {"schema": {"type": "string"}},
                        "application/xhtml+xml": {"schema": {"type": "string"}},
                        "application/pdf": {"schema": {"type": "string", "format": "binary"}},
                        "application/json": {"schema": _ref("Result")},
                    },
                },
                "409": _error("The job has not finished yet."),
                **NOT_FOUND,
                **AUTH_ERRORS,
            },
        }
    },
    "/v1/jobs/{job_id}/pages/{page_number}/image": {
        "get": {
            "summary": "A page as the pipeline read it (result coordinates refer to it)",
            "parameters": [JOB_ID, _param("page_number", "path", {"type": "integer", "minimum": 1}, "1-based page of the job.")],
            "responses": {
                "200": {
                    "description": "PNG image.",
                    "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
                },
                **NOT_FOUND,
                **AUTH_ERRORS,
            },
        }
    },
    "/v1/keys": {
        "post": {
            "summary": "Create a key (admin); the answer holds the key, shown this once",
            "requestBody": {
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["name"],
                            "properties": {
                                "name": {"type": "string"},
                                "admin": {"type": "boolean"},
                                "rate_limit": {"type": "string", "example": "120/min"},
                                "quota_pages": {"type": "integer"},
                            },
                        }
                    }
                }
            },
            "responses": {
                "201": _json(
                    {
                        "allOf": [
                            _ref("Key"),
                            {"type": "object", "properties": {"key": {"type": "string"}, "webhook_secret": {"type": "string"}}},
                        ]
                    },
                    "The new key.",
                ),
                "403": _error("Not an admin key."),
                **AUTH_ERRORS,
            },
        },
        "get": {
            "summary": "List keys (admin)",
            "responses": {
                "200": _json({"type": "object", "properties": {"keys": {"type": "array", "items": _ref("Key")}}}, "The keys."),
                "403": _error("Not an admin key."),
                **AUTH_ERRORS,
            },
        },
    },
    "/v1/keys/me": {
        "get": {
            "summary": "The calling key, with its webhook signing secret",
            "responses": {
                "200": _json(
                    {"allOf": [_ref("Key"), {"type": "object", "properties": {"webhook_secret": {"type": "string"}}}]},
                    "This key.",
                ),
                **AUTH_ERRORS,
            },
        }
    },
    "/v1/keys/{key_id}": {
        "delete": {
            "summary": "Revoke a key (admin)",
            "parameters": [_param("key_id", "path", {"type": "integer"}, "The key's id.")],
            "responses": {
                "204": {"description": "Revoked."},
                "403": _error("Not an admin key."),
                "404": _error("No such key."),
                **AUTH_ERRORS,
            },
        }
    },
    "/v1/index": {
        "get": {
            "summary": "The upload page (HTML)",
            "security": [],
            "responses": {"200": {"description": "HTML.", "content": {"text/html": {"schema": {"type": "string"}}}}},
        },
        "post": {
            "summary": "Read one uploaded file and wait for the answer (compatibility)",
            "requestBody": {
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {"file": {"type": "string", "format": "binary"}, "lang": {"type": "string"}},
                        }
                    }
                }
            },
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "image_url": {"type": "string"},
                            "prediction": {"type": "array", "items": {"type": "object"}},
                            "job_id": {"type": "string"},
                        },
                    },
                    "The lines read.",
                ),
                "422": _error("The file could not be read."),
                "429": _error("OCR_MAX_SYNC_WAITS requests already wait (server_busy), or the rate limit; see Retry-After."),
                "504": _error("Not finished within the wait; the job goes on (see job_id)."),
            },
        },
    },
    "/api/ocr": {
        "post": {
            "summary": "Synchronous OCR of one image (compatibility with the earlier demo)",
            "requestBody": {
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["image"],
                            "properties": {"image": {"type": "string", "format": "binary"}, "lang": {"type": "string"}},
                        }
                    }
                }
            },
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "success": {"type": "boolean"},
                            "text": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {"text": {"type": "string"}, "confidence": {"type": "number"}},
                                },
                            },
                            "total_time": {"type": "number"},
                            "job_id": {"type": "string"},
                        },
                    },
                    "The lines read.",
                ),
                "422": _error("The file could not be read (success: false)."),
                "429": _error("OCR_MAX_SYNC_WAITS requests already wait (server_busy), or the rate limit; see Retry-After."),
                "504": _error("Not finished within the wait (success: false)."),
            },
        }
    },
    "/healthz": {"get": {"summary": "Liveness", "security": [], "responses": {"200": {"description": "The process answers."}}}},
    "/readyz": {
        "get": {
            "summary": "Readiness: database (migrated), broker and storage answer",
            "security": [],
            "responses": {"200": {"description": "Ready."}, "503": {"description": "A dependency is unavailable."}},
        }
    },
    "/metrics": {
        "get": {
            "summary": "Prometheus metrics from the database and the broker (admin key, unless OCR_METRICS_PUBLIC)",
            "responses": {
                "200": {"description": "Prometheus text format.", "content": {"text/plain": {"schema": {"type": "string"}}}},
                "403": _error("Not an admin key."),
                **AUTH_ERRORS,
            },
        }
    },
    "/openapi.json": {"get": {"summary": "This document", "security": [], "responses": {"200": {"description": "OpenAPI 3.1."}}}},
}

DOCUMENT = {
    "openapi": "3.1.0",
    "info": {
        "title": "OCR platform",
        "version": "1.0.0",
        "description": "Asynchronous OCR for Chinese and English: submit images or PDFs, poll or get a signed callback, "
        "fetch text, JSON with boxes and confidences, hOCR or a searchable PDF.",
    },
    "servers": [{"url": "/"}],
    "security": [{"bearer": []}, {"apiKey": []}],
    "components": {
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <key>"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        },
        "schemas": SCHEMAS,
    },
    "paths": PATHS,
}


# Answers any operation may give: every request's text is checked first (api/validation.py), and every
# operation that needs a key reads the database.
BAD_TEXT = _error("A path, query, form field, file name or JSON string holds a NUL byte, a control character or bytes that are not UTF-8 (invalid_characters).")  # fmt: skip
OUTAGE = _error("The database or the job queue is unavailable; nothing was stored. Try again after Retry-After seconds.")
for _operations in PATHS.values():
    for _operation in _operations.values():
        _operation["responses"].setdefault("400", BAD_TEXT)
        if _operation.get("security") != []:
            _operation["responses"].setdefault("503", OUTAGE)


def openapi_document() -> dict:
    return deepcopy(DOCUMENT)
