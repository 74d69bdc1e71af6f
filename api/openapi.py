"""/openapi.json, generated: the request and answer models of api/schemas.py plus the route table below.

The table says, for each route of the app, its parameters, its body and every status it can answer;
the models say what the bodies hold. Answers every route shares are added here, once: 400
``invalid_characters`` (every request's text is checked first, api/validation.py), 401/429/503 where
a key is looked up (the database and the rate limiter are read), 403 where it must be an admin key,
413 where a body is read. tests/unit/platform/test_keys_and_inputs.py checks that the table and the
app's routes match; tests/integration/test_contract.py runs schemathesis against the document.
"""

from __future__ import annotations

import functools
import json
from copy import deepcopy
from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from api import schemas as S
from core.formats import EXTENSIONS, FORMATS
from pipeline.result import json_schema as result_json_schema

REF = "#/components/schemas/{model}"
KEY, ADMIN, PUBLIC, COMPAT, METRICS = "key", "admin", "public", "compat", "metrics"


@dataclass(frozen=True)
class Answer:
    description: str
    model: type[BaseModel] | None = None  # a JSON body
    content: dict[str, dict] | None = None  # other media types: {media type: schema}
    headers: tuple[str, ...] = ()  # names of HEADERS always sent with this answer
    links: tuple[str, ...] = ()  # operationIds the answer's job_id leads to (OpenAPI links; schemathesis follows them)


@dataclass(frozen=True)
class Files:
    """The file parts of a multipart body."""

    names: tuple[str, ...]  # the first is the documented one; compat routes take either
    many: bool
    description: str


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    summary: str
    access: str
    answers: dict[int, Answer]
    description: str = ""
    path_params: tuple[str, ...] = ()
    query: type[BaseModel] | None = None
    form: type[BaseModel] | None = None
    files: Files | None = None
    json_body: type[BaseModel] | None = None
    tags: tuple[str, ...] = ()
    operation_id: str = ""


HEADERS = {
    "Location": {"description": "The job's URL.", "schema": {"type": "string"}},
    "Retry-After": {"description": "Seconds to wait before asking again.", "schema": {"type": "integer", "minimum": 1}},
    "Content-Disposition": {"description": "inline, with the file name <job_id>.<ext>.", "schema": {"type": "string"}},
}
PATH_PARAMS = {
    "job_id": ({"type": "string", "format": "uuid"}, "The job's id."),
    "key_id": ({"type": "integer", "minimum": 0, "maximum": S.MAX_DB_BIGINT}, "The key's id."),
    "page_number": ({"type": "integer", "minimum": 0, "maximum": S.MAX_DB_INT}, "1-based page of the job."),
    "ext": ({"type": "string", "enum": list(EXTENSIONS)}, "The output format."),
}
# What a new job's id is good for: its status, results, cancel and delete, and the operators' views.
JOB_LINKS = ("getJob", "getResult", "getResultFile", "getPageImage", "cancelJob", "deleteJob", "adminGetJob", "adminRetryJob")
NOT_FOUND_JOB = Answer("No such job, or it belongs to another key.", S.ErrorBody)
BINARY = {"type": "string", "format": "binary"}
TEXT = {"type": "string"}

ROUTES: tuple[Route, ...] = (
    # --- jobs ---------------------------------------------------------------------------------------------
    Route(
        "post",
        "/v1/jobs",
        "Submit a job",
        KEY,
        {
            202: Answer(
                "Accepted (or the job already made with this client_request_token: Idempotent-Replayed: true). "
                "A file that is empty, too large or not an image or PDF is refused alone: it is listed in "
                "rejected, and the job reads the others.",
                S.JobAccepted,
                headers=("Location", "Retry-After"),
                links=JOB_LINKS,
            ),
            400: Answer(
                "A bad option (invalid_option, invalid_page_range), no file, too many files, no file that is not "
                "empty (every file's error in rejected), or a callback_url that is refused (not http(s), "
                "credentials, an address inside the network).",
                S.RefusedUpload,
            ),
            413: Answer("No file within the size limit (file_too_large; every file's error in rejected).", S.RefusedUpload),
            415: Answer(
                "No file is a supported image or PDF (unsupported_format; every file's error in rejected).", S.RefusedUpload
            ),
            429: Answer("The rate limit, or the key's page quota (quota_exceeded).", S.ErrorBody),
        },
        description="Stores the files and answers at once; poll the Location or wait for the callback. Callbacks carry "
        "X-OCR-Timestamp and X-OCR-Signature: sha256=HMAC-SHA256(webhook_secret, timestamp + '.' + body).",
        form=S.JobForm,
        files=Files(("file",), True, "One or more images (PNG, JPEG, TIFF, BMP, WebP) or PDFs."),
        tags=("jobs",),
        operation_id="submitJob",
    ),
    Route(
        "get",
        "/v1/jobs",
        "List jobs, newest first",
        KEY,
        {200: Answer("One page of the jobs.", S.JobList), 400: Answer("A bad filter or page number.", S.ErrorBody)},
        description=f"per_page above {S.MAX_PER_PAGE} is refused (400 invalid_option), not lowered.",
        query=S.JobListQuery,
        tags=("jobs",),
        operation_id="listJobs",
    ),
    Route(
        "get",
        "/v1/jobs/{job_id}",
        "A job's status, counters, files, pages and errors",
        KEY,
        {200: Answer("The job.", S.JobDetail), 404: NOT_FOUND_JOB},
        path_params=("job_id",),
        tags=("jobs",),
        operation_id="getJob",
    ),
    Route(
        "delete",
        "/v1/jobs/{job_id}",
        "Delete a job with its uploads, page images and results",
        KEY,
        {204: Answer("Deleted."), 404: NOT_FOUND_JOB},
        path_params=("job_id",),
        tags=("jobs",),
        operation_id="deleteJob",
    ),
    Route(
        "post",
        "/v1/jobs/{job_id}/cancel",
        "Cancel a job: pages not started are dropped, running ones finish",
        KEY,
        {
            202: Answer("Cancelling (or cancelled).", S.Accepted, headers=("Location",)),
            404: NOT_FOUND_JOB,
            409: Answer("The job has already finished.", S.ErrorBody),
        },
        path_params=("job_id",),
        tags=("jobs",),
        operation_id="cancelJob",
    ),
    Route(
        "get",
        "/v1/jobs/{job_id}/result",
        "The pages read so far, in the result schema",
        KEY,
        {
            200: Answer(
                "The pages read so far, with the job's status.",
                content={"application/json": {"$ref": REF.format(model="JobResult")}},
            ),
            400: Answer("A bad page range.", S.ErrorBody),
            404: NOT_FOUND_JOB,
        },
        path_params=("job_id",),
        query=S.ResultQuery,
        tags=("results",),
        operation_id="getResult",
    ),
    Route(
        "get",
        "/v1/jobs/{job_id}/result.{ext}",
        "An assembled output of a finished job",
        KEY,
        {
            200: Answer(
                "The output: " + "; ".join(f"{f.ext}: {f.description}" for f in FORMATS) + ".",
                content={
                    f.media_type.split(";")[0]: (
                        {"$ref": REF.format(model="Result")} if f.ext == "json" else BINARY if f.binary else TEXT
                    )
                    for f in FORMATS
                },
                headers=("Content-Disposition",),
            ),
            404: Answer("No such job or format, or no page of the job was read.", S.ErrorBody),
            409: Answer(
                "The job has not finished yet (conflict), or it did not ask for this binary output, which cannot be "
                "made afterwards (output_not_requested). A text output it did not ask for is made on demand.",
                S.ErrorBody,
            ),
        },
        path_params=("job_id", "ext"),
        tags=("results",),
        operation_id="getResultFile",
    ),
    Route(
        "get",
        "/v1/jobs/{job_id}/pages/{page_number}/image",
        "A page as the pipeline read it (result coordinates refer to it)",
        COMPAT,
        {200: Answer("The page image.", content={"image/png": BINARY}), 404: Answer("No such job or page image.", S.ErrorBody)},
        description="Needs a key unless OCR_ANONYMOUS_COMPAT is set (POST /v1/index hands this URL to its clients).",
        path_params=("job_id", "page_number"),
        tags=("results",),
        operation_id="getPageImage",
    ),
    # --- keys ---------------------------------------------------------------------------------------------
    Route(
        "post",
        "/v1/keys",
        "Create a key (admin); the answer holds the key, shown this once",
        ADMIN,
        {201: Answer("The new key.", S.KeyCreated), 400: Answer("A bad name, rate limit or quota.", S.ErrorBody)},
        json_body=S.KeyCreate,
        tags=("keys",),
        operation_id="createKey",
    ),
    Route(
        "get",
        "/v1/keys",
        "List keys (admin)",
        ADMIN,
        {200: Answer("The keys.", S.KeyList)},
        tags=("keys",),
        operation_id="listKeys",
    ),
    Route(
        "get",
        "/v1/keys/me",
        "The calling key, with its webhook signing secret",
        KEY,
        {200: Answer("This key.", S.KeyWithSecret)},
        tags=("keys",),
        operation_id="getOwnKey",
    ),
    Route(
        "delete",
        "/v1/keys/{key_id}",
        "Revoke a key (admin)",
        ADMIN,
        {204: Answer("Revoked (or already revoked)."), 404: Answer("No such key.", S.ErrorBody)},
        path_params=("key_id",),
        tags=("keys",),
        operation_id="revokeKey",
    ),
    # --- the operations dashboard ------------------------------------------------------------------------
    Route(
        "get",
        "/v1/admin/overview",
        "Queues, workers, open pages and jobs by status",
        ADMIN,
        {200: Answer("The figures, read now.", S.Overview)},
        tags=("admin",),
        operation_id="adminOverview",
    ),
    Route(
        "get",
        "/v1/admin/throughput",
        "Pages and jobs finished per minute",
        ADMIN,
        {200: Answer("One bucket per minute.", S.Throughput), 400: Answer("A bad number of minutes.", S.ErrorBody)},
        query=S.MinutesQuery,
        tags=("admin",),
        operation_id="adminThroughput",
    ),
    Route(
        "get",
        "/v1/admin/stage-times",
        "p50/p95 seconds per pipeline stage and per job",
        ADMIN,
        {200: Answer("The spreads.", S.StageTimes), 400: Answer("A bad number of minutes.", S.ErrorBody)},
        query=S.MinutesQuery,
        tags=("admin",),
        operation_id="adminStageTimes",
    ),
    Route(
        "get",
        "/v1/admin/jobs",
        "Every key's jobs, filtered, newest first",
        ADMIN,
        {200: Answer("One page of the jobs.", S.AdminJobList), 400: Answer("A bad filter or page number.", S.ErrorBody)},
        query=S.AdminJobListQuery,
        tags=("admin",),
        operation_id="adminListJobs",
    ),
    Route(
        "get",
        "/v1/admin/jobs/{job_id}",
        "A job with its key, pages, workers and timings",
        ADMIN,
        {200: Answer("The job.", S.AdminJobDetail), 404: Answer("No such job.", S.ErrorBody)},
        path_params=("job_id",),
        tags=("admin",),
        operation_id="adminGetJob",
    ),
    Route(
        "post",
        "/v1/admin/jobs/{job_id}/retry",
        "Put a job's failed pages back in the queue",
        ADMIN,
        {
            202: Answer("Requeued.", S.RetryAnswer, headers=("Location",)),
            404: Answer("No such job.", S.ErrorBody),
            409: Answer("The job has nothing to retry, or is still running.", S.ErrorBody),
        },
        path_params=("job_id",),
        tags=("admin",),
        operation_id="adminRetryJob",
    ),
    Route(
        "post",
        "/v1/admin/jobs/{job_id}/rerun",
        "A new job over the same files; options not given keep the old job's values",
        ADMIN,
        {
            202: Answer("The new job.", S.RerunAnswer, headers=("Location",), links=JOB_LINKS),
            400: Answer("A bad option.", S.ErrorBody),
            404: Answer("No such job, or its files are gone.", S.ErrorBody),
            409: Answer("The job's files cannot be read again.", S.ErrorBody),
        },
        path_params=("job_id",),
        json_body=S.RerunBody,
        tags=("admin",),
        operation_id="adminRerunJob",
    ),
    # --- the earlier demo's endpoints ---------------------------------------------------------------------
    Route(
        "get",
        "/v1/index",
        "The upload page (HTML)",
        PUBLIC,
        {200: Answer("The page.", content={"text/html": TEXT})},
        tags=("compatibility",),
        operation_id="uploadPage",
    ),
    Route(
        "post",
        "/v1/index",
        "Read one uploaded file and wait for the answer (compatibility)",
        COMPAT,
        {
            200: Answer("The lines read.", S.CompatIndex),
            400: Answer("No file, or an empty or damaged one (success: false).", S.CompatErrorBody),
            413: Answer("The upload is too large.", S.ErrorBody),
            415: Answer("The file is not a supported image or PDF (success: false).", S.CompatErrorBody),
            422: Answer("The job failed: the file could not be read (success: false).", S.CompatErrorBody),
            429: Answer(
                "OCR_MAX_SYNC_WAITS requests already wait (server_busy), the rate limit, or the quota.", S.CompatErrorBody
            ),
            504: Answer("Not finished within OCR_SYNC_TIMEOUT; the job goes on (see job_id).", S.CompatErrorBody),
        },
        description="Field file (or image); needs a key unless OCR_ANONYMOUS_COMPAT is set.",
        form=S.CompatForm,
        files=Files(("file", "image"), False, "One image or PDF."),
        tags=("compatibility",),
        operation_id="indexPredict",
    ),
    Route(
        "post",
        "/api/ocr",
        "Synchronous OCR of one image (compatibility with the earlier demo)",
        COMPAT,
        {
            200: Answer("The lines read.", S.CompatOcr),
            400: Answer("No file, or an empty or damaged one (success: false).", S.CompatErrorBody),
            413: Answer("The upload is too large.", S.ErrorBody),
            415: Answer("The file is not a supported image or PDF (success: false).", S.CompatErrorBody),
            422: Answer("The job failed: the file could not be read (success: false).", S.CompatErrorBody),
            429: Answer(
                "OCR_MAX_SYNC_WAITS requests already wait (server_busy), the rate limit, or the quota.", S.CompatErrorBody
            ),
            504: Answer("Not finished within OCR_SYNC_TIMEOUT; the job goes on (see job_id).", S.CompatErrorBody),
        },
        description="Field image (or file); needs a key unless OCR_ANONYMOUS_COMPAT is set.",
        form=S.CompatForm,
        files=Files(("image", "file"), False, "One image or PDF."),
        tags=("compatibility",),
        operation_id="apiOcr",
    ),
    # --- operations ---------------------------------------------------------------------------------------
    Route(
        "get",
        "/healthz",
        "Liveness",
        PUBLIC,
        {200: Answer("The process answers.", S.Health)},
        tags=("operations",),
        operation_id="healthz",
    ),
    Route(
        "get",
        "/readyz",
        "Readiness: database (migrated), broker and storage answer",
        PUBLIC,
        {200: Answer("Ready.", S.Readiness), 503: Answer("A dependency is unavailable.", S.Readiness)},
        tags=("operations",),
        operation_id="readyz",
    ),
    Route(
        "get",
        "/metrics",
        "Prometheus metrics from the database and the broker",
        METRICS,
        {200: Answer("Prometheus text format.", content={"text/plain": TEXT})},
        description="Admin keys only, unless OCR_METRICS_PUBLIC is set.",
        tags=("operations",),
        operation_id="metrics",
    ),
    Route(
        "get",
        "/schemas/result-v2.json",
        "The result document's JSON Schema (version 2); the same as components.schemas.Result here",
        PUBLIC,
        {200: Answer("JSON Schema 2020-12.", content={"application/schema+json": {"type": "object"}})},
        tags=("results",),
        operation_id="resultSchema",
    ),
    Route(
        "get",
        "/openapi.json",
        "This document",
        PUBLIC,
        {200: Answer("OpenAPI 3.1.", content={"application/json": {"type": "object"}})},
        tags=("operations",),
        operation_id="openapi",
    ),
)

# Answers that many routes give; a route's own answer for the same status comes first.
BAD_TEXT = (
    "A path, query, form field, file name or JSON string holds a NUL byte, a control character or bytes that are not "
    "UTF-8 (invalid_characters)."
)
COMMON = {
    KEY: {
        401: "No key, or an unknown or revoked key.",
        429: "The key's rate limit (Retry-After).",
        503: "The database or the job queue is unavailable; nothing was stored (Retry-After).",
    },
    ADMIN: {403: "Not an admin key."},
    METRICS: {403: "Not an admin key."},
}
OPTIONAL_HEADERS = {429: "Retry-After"}  # a rate limit says when; a used-up quota cannot
REQUIRED_HEADERS = {503: "Retry-After"}


def _common_answers(route: Route) -> dict[int, str]:
    common = {400: BAD_TEXT}
    if route.access != PUBLIC:
        common |= COMMON[KEY]
    common |= COMMON.get(route.access, {})
    if route.form or route.files or route.json_body:
        common[413] = "The request is larger than the server takes."
    return common


def _request_schema(schema: dict) -> dict:
    """A form field or query parameter is text or absent, never null: drop pydantic's null branch."""
    schema = dict(schema)
    any_of = schema.pop("anyOf", None)
    if any_of is not None:
        kept = [s for s in any_of if s != {"type": "null"}]
        if len(kept) == 1:
            schema = {**kept[0], **schema}
        else:
            schema["anyOf"] = kept
    if schema.get("default", 0) is None or isinstance(schema.get("default"), list):  # absent: nothing, or all
        del schema["default"]
    schema.pop("title", None)
    return schema


def _properties(model: type[BaseModel]) -> tuple[dict, list[str]]:
    schema = model.model_json_schema()
    properties = {name: _request_schema(prop) for name, prop in schema.get("properties", {}).items()}
    return properties, list(schema.get("required", []))


def _parameters(route: Route) -> list[dict]:
    out = []
    for name in route.path_params:
        schema, description = PATH_PARAMS[name]
        out.append({"name": name, "in": "path", "required": True, "schema": schema, "description": description})
    if route.query is not None:
        properties, required = _properties(route.query)
        for name, schema in properties.items():
            described = {"description": schema.pop("description")} if "description" in schema else {}
            out.append({"name": name, "in": "query", "required": name in required, "schema": schema, **described})
    return out


def _request_body(route: Route) -> dict | None:
    if route.json_body is not None:
        properties, required = _properties(route.json_body)
        body = {"type": "object", "properties": properties, **({"required": required} if required else {})}
        form_body = deepcopy(body)  # the same fields are read from a form, for curl -F
        return {
            "required": True,
            "content": {"application/json": {"schema": body}, "application/x-www-form-urlencoded": {"schema": form_body}},
        }
    if route.files is None:
        return None
    properties, required = _properties(route.form) if route.form else ({}, [])
    part = {**BINARY, "description": route.files.description}
    first, *others = route.files.names
    properties = {
        first: {"type": "array", "items": BINARY, "minItems": 1, "description": part["description"]}
        if route.files.many
        else part,
        **properties,
    }
    for other in others:
        properties[other] = {**part, "description": f"The same as {first}, for older clients."}
    schema = {"type": "object", "required": [first, *required], "properties": properties}
    if route.form is not None and route.form.__doc__:
        schema["description"] = route.form.__doc__.strip()
    return {"required": True, "content": {"multipart/form-data": {"schema": schema}}}


def _answer(answer: Answer, status: int) -> dict:
    out: dict[str, Any] = {"description": answer.description}
    if answer.model is not None:
        out["content"] = {"application/json": {"schema": {"$ref": REF.format(model=answer.model.__name__)}}}
    elif answer.content is not None:
        out["content"] = {media: {"schema": schema} for media, schema in answer.content.items()}
    headers = {name: {**HEADERS[name], "required": True} for name in answer.headers}
    if status in REQUIRED_HEADERS and answer.model is not None:
        headers[REQUIRED_HEADERS[status]] = {**HEADERS[REQUIRED_HEADERS[status]], "required": True}
    if status in OPTIONAL_HEADERS:
        headers[OPTIONAL_HEADERS[status]] = {**HEADERS[OPTIONAL_HEADERS[status]], "required": False}
    if headers:
        out["headers"] = headers
    if answer.links:
        out["links"] = {
            operation_id: {"operationId": operation_id, "parameters": {"path.job_id": "$response.body#/job_id"}}
            for operation_id in answer.links
        }
    return out


def _operation(route: Route) -> dict:
    answers = dict(route.answers)
    error_model = S.CompatErrorBody if route.access == COMPAT and route.files else S.ErrorBody
    for status, description in _common_answers(route).items():
        if status not in answers:
            model = S.ErrorBody if status == 413 else error_model
            answers[status] = Answer(description, model)
        elif status == 400 and description == BAD_TEXT:  # the route's own 400s, and the check every request has
            answers[status] = replace(answers[status], description=f"{answers[status].description} Or: {BAD_TEXT}")
    operation: dict[str, Any] = {"operationId": route.operation_id, "summary": route.summary, "tags": list(route.tags)}
    if route.description:
        operation["description"] = route.description
    if parameters := _parameters(route):
        operation["parameters"] = parameters
    if body := _request_body(route):
        operation["requestBody"] = body
    operation["responses"] = {str(status): _answer(answers[status], status) for status in sorted(answers)}
    if route.access == PUBLIC:
        operation["security"] = []
    elif route.access == COMPAT:
        operation["security"] = [{"bearer": []}, {"apiKey": []}, {}]  # OCR_ANONYMOUS_COMPAT may let callers in without one
    return operation


def _answer_models() -> list[type[BaseModel]]:
    found = {model.__name__: model for route in ROUTES for model in (a.model for a in route.answers.values()) if model}
    return [*found.values(), S.ErrorBody, S.CompatErrorBody, S.JobResultFields]


def result_schemas() -> dict[str, dict]:
    """The result document's JSON Schema (pipeline/result.py, also served at /schemas/result-v2.json) as
    components: its root as Result, each of its $defs as Result<Name>, the references rewritten to match."""
    schema = json.loads(json.dumps(result_json_schema()).replace('"#/$defs/', '"#/components/schemas/Result'))
    out = {f"Result{name}": definition for name, definition in schema.pop("$defs", {}).items()}
    schema.pop("$schema", None)
    schema.pop("$id", None)
    out["Result"] = schema
    out["JobResult"] = {
        "description": "The pages read so far, with where the job stands.",
        "allOf": [
            {"$ref": REF.format(model="Result")},
            {"$ref": REF.format(model=S.JobResultFields.__name__)},
        ],
    }
    return out


@functools.cache
def _document() -> dict:
    _, top = models_json_schema([(model, "serialization") for model in _answer_models()], ref_template=REF)
    paths: dict[str, dict] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method] = _operation(route)
    schemas = dict(sorted({**top.get("$defs", {}), **result_schemas()}.items()))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "OCR platform",
            "version": "1.0.0",
            "description": "Asynchronous OCR for Chinese and English: submit images or PDFs, poll or get a signed callback, "
            "fetch text, JSON with boxes and confidences, hOCR or a searchable PDF. Errors are JSON "
            '{"error": code, "message": text} with the matching HTTP status.',
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"apiKey": []}],
        "tags": [{"name": name} for name in dict.fromkeys(tag for route in ROUTES for tag in route.tags)],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <key>"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
            "schemas": schemas,
        },
        "paths": paths,
    }


def openapi_document() -> dict:
    return deepcopy(_document())
