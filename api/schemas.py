"""The HTTP API's requests and answers, defined once: the handlers validate with these models and
api/openapi.py builds /openapi.json from them.

Requests: a model's validators raise our own errors (core/errors.py) with the messages clients
have always had, so a bad option answers 400 ``invalid_option`` / ``invalid_page_range`` as
before; a value that only fails a model's own constraints (a number above its maximum) is
turned into ``invalid_option`` by :func:`validate`. Form and query values arrive as text, so the
validators take text, and the documented types (boolean, integer, enum) describe what they accept.

Answers: every JSON body a handler builds is described here; the contract test
(tests/integration/test_contract.py) checks real answers against the generated document.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, WithJsonSchema

from core.errors import InvalidOption
from core.formats import DEFAULT_OUTPUTS, EXTENSIONS
from core.outbound import MAX_URL_LENGTH, parse_url
from db.keys import parse_rate_limit
from db.models import FileStatus, JobStatus, PageStatus
from pipeline.pages import parse_page_range
from pipeline.text_layer import check_mode

LANGS = ("zh", "en", "mix")
MAX_PER_PAGE = 200
MAX_PAGE = 10**9
MAX_DB_INT = 2**31 - 1  # PostgreSQL integer: page numbers, rate limits
MAX_DB_BIGINT = 2**63 - 1  # PostgreSQL bigint: key ids, quotas
MAX_TAG = 128
MAX_PAGE_SPEC = 200
MAX_KEY_NAME = 200
TOKEN_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
PAGE_SPEC_CEILING = 100_000  # only to check the syntax of a page range before the document is opened
TRUE, FALSE = frozenset({"1", "true", "yes", "on"}), frozenset({"0", "false", "no", "off"})
_TOKEN = re.compile(TOKEN_PATTERN)
_ISO = "an ISO 8601 time such as 2024-05-01T12:00:00Z"
_DATE_OR_ISO = "a date (2024-05-01) or an ISO 8601 time"

Model = TypeVar("Model", bound=BaseModel)


def validate(model: type[Model], values: Any) -> Model:
    """``values`` (a dict, or a form/query MultiDict: the first value of each name) as ``model``."""
    if hasattr(values, "to_dict"):
        values = values.to_dict()
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "the request"
        raise InvalidOption(f"{where}: {first['msg']}.") from None


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")  # unknown form fields and query parameters are ignored, as always


def _text_or_none(value: Any) -> str | None:
    if value is None:
        return None
    return str(value).strip() or None


def _flag(name: str, default: bool, description: str | None = None):
    def parse(value: Any) -> bool:
        if isinstance(value, bool):
            return value
        text = (_text_or_none(value) or str(default)).lower()
        if text not in TRUE | FALSE:
            raise InvalidOption(f"{name} must be true or false, not {text!r}.")
        return text in TRUE

    return Annotated[bool, BeforeValidator(parse), Field(default=default, description=description)]


def _number(name: str, default: int | None, maximum: int, minimum: int = 1, description: str | None = None):
    """A whole number from ``minimum`` to ``maximum``; one above the maximum is refused, never quietly lowered."""

    def parse(value: Any) -> int | None:
        text = _text_or_none(value)
        if text is None:
            return default
        if not (text.isascii() and text.isdigit()) or int(text) < minimum:  # '²'.isdigit(), but int('²') fails
            raise InvalidOption(f"{name} must be a {'positive ' if minimum else ''}whole number.")
        if int(text) > maximum:
            raise InvalidOption(f"{name} must be at most {maximum}.")
        return int(text)

    bounded = Annotated[int, Field(ge=minimum, le=maximum)]
    kind = bounded if default is not None else bounded | None
    return Annotated[kind, BeforeValidator(parse), Field(default=default, description=description)]


def _time(name: str, description: str, *, dates: bool = False):
    def parse(value: Any) -> datetime | None:
        text = _text_or_none(value)
        if text is None:
            return None
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
            parsed.astimezone(UTC)  # a time zone that pushes it outside year 1..9999 cannot be compared
        except (ValueError, OverflowError):
            raise InvalidOption(f"{name} must be {example}.") from None
        return parsed

    example = _DATE_OR_ISO if dates else _ISO
    # A plain date is not a JSON Schema date-time: only the strict kind says so.
    text_schema = {"type": "string"} if dates else {"type": "string", "format": "date-time"}
    return Annotated[
        Annotated[datetime, WithJsonSchema(text_schema)] | None,
        BeforeValidator(parse),
        Field(default=None, description=f"{description}: {example}."),
    ]


# --- POST /v1/jobs (and the options of a rerun) ------------------------------------------------------
def _lang(value: Any) -> str:
    lang = (_text_or_none(value) or "mix").lower()
    if lang not in LANGS:
        raise InvalidOption(f"lang must be one of {', '.join(LANGS)}, not {lang!r}.")
    return lang


def _page_spec(value: Any) -> str | None:
    spec = _text_or_none(value)
    if spec is not None:
        if len(spec) > MAX_PAGE_SPEC:
            raise InvalidOption("The page range is too long.")
        parse_page_range(spec, PAGE_SPEC_CEILING)  # raises InvalidPageRange on bad syntax
    return spec


def _outputs(value: Any) -> tuple[str, ...]:
    if isinstance(value, list | tuple):
        value = ",".join(map(str, value))
    raw = [o.strip().lower() for o in (_text_or_none(value) or ",".join(DEFAULT_OUTPUTS)).split(",") if o.strip()]
    if not raw or any(o not in EXTENSIONS for o in raw):
        raise InvalidOption(f"outputs must be a comma-separated list of {', '.join(EXTENSIONS)}; got {value!r}.")
    return tuple(dict.fromkeys(raw))


def _token(value: Any) -> str | None:
    token = _text_or_none(value)
    if token is not None and not _TOKEN.match(token):
        raise InvalidOption("client_request_token must be 1-128 characters of letters, digits and . _ : -")
    return token


def _tag(value: Any) -> str | None:
    tag = _text_or_none(value)
    if tag is not None and len(tag) > MAX_TAG:
        raise InvalidOption(f"job_tag must be at most {MAX_TAG} characters.")
    return tag


def _callback(value: Any) -> str | None:
    url = _text_or_none(value)
    if url is not None:
        parse_url(url)  # its addresses are checked at submit, which knows the operator's allowlist
    return url


Lang = Annotated[
    Literal["zh", "en", "mix"],
    BeforeValidator(_lang),
    Field(description="Recognition language; all three read with the mixed Chinese/English recognizer today."),
]
PageSpec = Annotated[
    Annotated[str, Field(max_length=MAX_PAGE_SPEC, pattern=r"^\s*\d*\s*-?\s*\d*\s*(,\s*\d*\s*-?\s*\d*\s*)*$")] | None,
    BeforeValidator(_page_spec),
    Field(
        description="Pages to read in each file, 1-based and inclusive, e.g. 1-3,5 or 4- (default: all).",
    ),
]


def _comma_list(names: tuple[str, ...], description: str) -> WithJsonSchema:
    """How a list travels in a form field or a query parameter: one string, comma-separated."""
    one = "|".join(names)
    return WithJsonSchema({"type": "string", "pattern": rf"^\s*({one})\s*(,\s*({one})\s*)*$", "description": description})


Outputs = Annotated[
    tuple[str, ...],
    BeforeValidator(_outputs),
    _comma_list(EXTENSIONS, f"Comma-separated outputs to make, of {', '.join(EXTENSIONS)} (default: all)."),
]
PdfText = Annotated[
    Literal["auto", "ocr", "keep"],
    BeforeValidator(lambda value: check_mode((_text_or_none(value) or "auto").lower())),
    Field(
        description="What a PDF page's own text layer is used for. auto: a page with real text is read from it "
        "(no OCR), other pages (scans, invisible OCR layers, unreadable glyphs) are OCR'd; ocr: every page is "
        "OCR'd; keep: no page is OCR'd, a page without text comes out empty. Each result page's text_source says "
        "which it was.",
    ),
]
JobTag = Annotated[
    Annotated[str, Field(max_length=MAX_TAG)] | None, BeforeValidator(_tag), Field(description="A label to filter jobs by.")
]


class JobForm(_Request):
    """The options of POST /v1/jobs, beside one or more ``file`` parts."""

    lang: Lang = "mix"
    pages: PageSpec = None
    detect_orientation: _flag("detect_orientation", True, "Turn pages upright first (0/90/180/270 degrees).")
    outputs: Outputs = Field(default=DEFAULT_OUTPUTS, json_schema_extra={"default": ",".join(DEFAULT_OUTPUTS)})
    pdf_text: PdfText = "auto"
    client_request_token: Annotated[
        Annotated[str, Field(pattern=TOKEN_PATTERN)] | None,
        BeforeValidator(_token),
        Field(description="The same token from the same key answers with the same job (safe retries)."),
    ] = None
    job_tag: JobTag = None
    callback_url: Annotated[
        Annotated[str, Field(max_length=MAX_URL_LENGTH, json_schema_extra={"format": "uri"})] | None,
        BeforeValidator(_callback),
        Field(
            description="POSTed a signed JSON when the job ends. http(s) only, no credentials; its host must resolve to "
            "public addresses only (checked at submit and again at delivery) unless OCR_WEBHOOK_ALLOW names it.",
        ),
    ] = None


class RerunBody(_Request):
    """POST /v1/admin/jobs/{job_id}/rerun: options not given keep the old job's values (JSON or a form)."""

    lang: Lang | None = None
    pages: PageSpec = None
    detect_orientation: bool | None = None
    outputs: Annotated[str | None, Field(description=JobForm.model_fields["outputs"].description)] = None
    job_tag: JobTag = None


class CompatForm(_Request):
    """The earlier demo's form: one file and a language."""

    lang: Lang = "mix"


# --- query parameters -----------------------------------------------------------------------------
def _statuses(value: Any) -> tuple[str, ...]:
    statuses = tuple(s.strip() for s in (_text_or_none(value) or "").split(",") if s.strip())
    unknown = [s for s in statuses if s not in JobStatus.ALL]
    if unknown:
        raise InvalidOption(f"Unknown status {unknown[0]!r}; use {', '.join(JobStatus.ALL)}.")
    return statuses


Statuses = Annotated[tuple[str, ...], BeforeValidator(_statuses), _comma_list(JobStatus.ALL, "Comma-separated statuses.")]
KeyId = _number("key_id", None, MAX_DB_BIGINT, description="Admin keys: only the jobs of this key.")


class JobListQuery(_Request):
    """GET /v1/jobs"""

    status: Statuses = ()
    tag: Annotated[str | None, Field(description="Only jobs with this job_tag.")] = None
    job_tag: Annotated[str | None, Field(description="The same as tag.")] = None
    created_after: _time("created_after", "Jobs created at or after")
    created_before: _time("created_before", "Jobs created before")
    page: _number("page", 1, MAX_PAGE, description="The page of the list, from 1.")
    per_page: _number("per_page", 50, MAX_PER_PAGE, description=f"Jobs per page; above {MAX_PER_PAGE} is refused.")
    all: _flag("all", False, "Admin keys: every key's jobs.")
    key_id: KeyId


class AdminJobListQuery(_Request):
    """GET /v1/admin/jobs; a plain date in created_before includes its whole day."""

    status: Statuses = ()
    tag: Annotated[str | None, BeforeValidator(_text_or_none), Field(description="Only jobs with this job_tag.")] = None
    key_id: KeyId
    created_after: _time("created_after", "Jobs created at or after", dates=True)
    created_before: _time("created_before", "Jobs created before (a date: up to its end)", dates=True)
    job_id: Annotated[str | None, BeforeValidator(_text_or_none), Field(description="The start of a job id.")] = None
    page: _number("page", 1, MAX_PAGE, description="The page of the list, from 1.")
    per_page: _number("per_page", 25, MAX_PER_PAGE, description=f"Jobs per page; above {MAX_PER_PAGE} is refused.")


class MinutesQuery(_Request):
    minutes: _number("minutes", 60, 24 * 60, description="The window, in minutes up to now.")


class ResultQuery(_Request):
    pages: Annotated[str | None, Field(description="Only these pages of the job, e.g. 1-3,5.")] = None


def _rate_limit(value: Any) -> str | None:
    spec = _text_or_none(value)
    if spec is not None:
        count, _window = parse_rate_limit(spec)  # raises InvalidOption
        if count > MAX_DB_INT:
            raise InvalidOption(f"A rate limit may be at most {MAX_DB_INT} requests per window.")
    return spec


class KeyCreate(_Request):
    """POST /v1/keys (JSON, or a form)."""

    name: Annotated[str, Field(min_length=1, max_length=MAX_KEY_NAME)]
    admin: _flag("admin", False)
    rate_limit: Annotated[
        Annotated[str, Field(pattern=r"^\s*\d+\s*(/\s*(s|sec|second|m|min|minute|h|hr|hour))?\s*$")] | None,
        BeforeValidator(_rate_limit),
        Field(examples=["120/min"], description="Requests per window: 120/min, 5/s, 1000/hour; none: the server's default."),
    ] = None
    quota_pages: _number(
        "quota_pages", None, MAX_DB_BIGINT, minimum=0, description="Pages this key may submit in all; none: unlimited."
    )


# --- answers ----------------------------------------------------------------------------------------
JobId = Annotated[str, Field(json_schema_extra={"format": "uuid"})]
StatusName = Literal[JobStatus.ALL]
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class ErrorBody(BaseModel):
    error: str = Field(description="Stable machine-readable code (core/errors.py), e.g. unsupported_format.")
    message: str = Field(description="What went wrong, for people.")


class CompatErrorBody(ErrorBody):
    """The earlier demo's error shape."""

    success: Literal[False]
    job_id: str | None = Field(default=None, description="The job, when one was made.")


class ErrorDetail(BaseModel):
    code: str | None
    message: str | None


class FileRef(BaseModel):
    index: int = Field(description="The file's 0-based place in the request.")
    filename: str


class RejectedFile(FileRef):
    """A file of the request refused at upload (not a document, empty, too large); nothing of it is kept."""

    code: str = Field(description="Stable machine-readable code, e.g. unsupported_format.")
    message: str


class Accepted(BaseModel):
    job_id: JobId
    status: StatusName


class JobAccepted(Accepted):
    """POST /v1/jobs: each file's outcome."""

    accepted: list[FileRef] = Field(description="The files the job reads, in request order.")
    rejected: list[RejectedFile] = Field(
        description="The files refused at upload; the job goes on without them (and ends partial_success at best)."
    )


class RefusedUpload(ErrorBody):
    """A request none of whose files can be read: the first file's error, and every file's in ``rejected``."""

    rejected: list[RejectedFile] | None = None


class JobSummary(BaseModel):
    job_id: JobId
    status: StatusName
    filenames: list[str] = Field(description="The files sent, in request order, the rejected ones too.")
    lang: str
    page_range: str | None
    detect_orientation: bool
    pdf_text: Literal["auto", "ocr", "keep"]
    outputs: list[Literal[EXTENSIONS]]
    job_tag: str | None
    client_request_token: str | None
    pages_total: int
    pages_done: int
    pages_failed: int
    pages_cancelled: int
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None
    updated_at: Timestamp
    expires_at: Timestamp | None = Field(
        description="When the job and its files are deleted (OCR_RETENTION_DAYS after it ended); null: kept."
    )
    error: ErrorDetail | None


class FileView(BaseModel):
    index: int = Field(description="The file's 0-based place in the request; a page's file_index points here.")
    filename: str
    sha256: str | None = Field(description="null for a rejected file (its bytes were not kept).")
    size_bytes: int | None
    format: str | None
    page_count: int | None
    status: Literal[FileStatus.PENDING, FileStatus.READY, FileStatus.FAILED, "rejected"] = Field(
        description="rejected: refused at upload; failed: found unusable when split into pages."
    )
    error: ErrorDetail | None


class PageView(BaseModel):
    page_number: int
    file_index: int | None
    source_page: int
    status: Literal[PageStatus.ALL]
    attempts: int
    warnings: list[str]
    error: ErrorDetail | None
    timings: dict[str, float]
    started_at: Timestamp | None
    finished_at: Timestamp | None


class PageWarnings(BaseModel):
    page_number: int
    warnings: list[str]


class Webhook(BaseModel):
    status: str | None = Field(description="pending, delivered or failed.")
    attempts: int
    error: str | None


class JobDetail(JobSummary):
    files: list[FileView] = Field(description="Every file sent, in request order, the rejected ones too.")
    rejected: list[RejectedFile]
    pages: list[PageView]
    warnings: list[PageWarnings]
    callback_url: str | None
    webhook: Webhook | None
    links: dict[str, str]


class JobResultFields(BaseModel):
    """GET /v1/jobs/{job_id}/result: the result document (schema Result) has these beside it."""

    job_id: JobId
    status: StatusName
    complete: bool = Field(description="True once the job has reached a final status.")
    pages_total: int


class JobList(BaseModel):
    jobs: list[JobSummary]
    page: int
    per_page: int
    total: int


class KeyView(BaseModel):
    id: int
    name: str
    prefix: str
    is_admin: bool
    rate_limit: str | None = Field(description="Requests per window, e.g. 120/60s; null: the server's default.")
    quota_pages: int | None
    pages_used: int
    created_at: Timestamp
    revoked_at: Timestamp | None


class KeyWithSecret(KeyView):
    webhook_secret: str = Field(description="Signs this key's callbacks (HMAC-SHA256).")


class KeyCreated(KeyWithSecret):
    key: str = Field(description="The key itself, shown this once.")


class KeyList(BaseModel):
    keys: list[KeyView]


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = Field(description="database, broker, storage: ok or unavailable: <why>.")


class CompatLine(BaseModel):
    text: str
    confidence: float


class CompatOcr(BaseModel):
    success: Literal[True]
    text: list[CompatLine]
    total_time: float
    job_id: JobId


class CompatPrediction(BaseModel):
    page: int
    text: str
    confidence: float
    bbox: list[float]


class CompatIndex(BaseModel):
    image_url: str
    prediction: list[CompatPrediction]
    job_id: JobId


# --- the operations dashboard (/v1/admin) ------------------------------------------------------------
class QueueDepth(BaseModel):
    name: str
    depth: int


class Broker(BaseModel):
    broker_up: bool
    queues: list[QueueDepth]
    unacked: int | None
    error: str | None = None


class WaitingPage(BaseModel):
    job_id: JobId
    page_number: int
    created_at: Timestamp
    age_seconds: float


class CurrentPage(BaseModel):
    job_id: JobId
    page_number: int
    since: Timestamp | None


class WorkerView(BaseModel):
    hostname: str
    pid: int
    device: str | None
    queues: str | None
    online: bool
    current_page: CurrentPage | None
    pages_done: int
    started_at: Timestamp | None
    last_seen: Timestamp
    seconds_since_seen: float


class Overview(BaseModel):
    now: Timestamp
    broker: Broker
    oldest_waiting_page: WaitingPage | None
    jobs_by_status: dict[str, int]
    jobs_total: int
    pages_open: dict[str, int]
    workers: list[WorkerView]
    workers_online: int


class MinuteBucket(BaseModel):
    minute: Timestamp
    t: int
    pages_done: int
    pages_failed: int
    jobs_finished: int
    jobs_failed: int
    failure_ratio: float | None


class ThroughputTotals(BaseModel):
    pages_done: int
    pages_failed: int
    jobs_finished: int
    pages_per_minute: float
    jobs_per_minute: float
    failure_ratio: float | None


class Throughput(BaseModel):
    minutes: int
    buckets: list[MinuteBucket]
    totals: ThroughputTotals


class Spread(BaseModel):
    n: int
    p50: float | None
    p95: float | None


class StageTimes(BaseModel):
    minutes: int
    stages: dict[str, Spread]
    job_end_to_end: Spread
    job_wait_before_start: Spread


class KeyRef(BaseModel):
    id: int
    name: str
    prefix: str


class AdminJob(BaseModel):
    job_id: JobId
    status: StatusName
    filenames: list[str]
    job_tag: str | None
    lang: str
    key: KeyRef
    pages_total: int
    pages_done: int
    pages_failed: int
    pages_cancelled: int
    created_at: Timestamp
    finished_at: Timestamp | None
    seconds: float | None
    error: ErrorDetail | None


class AdminJobList(BaseModel):
    jobs: list[AdminJob]
    page: int
    per_page: int
    total: int
    total_capped: bool


class AdminPageView(PageView):
    worker: str | None
    has_image: bool
    lines: int | None


class AdminJobDetail(JobDetail):
    pages: list[AdminPageView]
    key: KeyRef | None
    seconds: float | None


class RetryAnswer(BaseModel):
    job_id: JobId
    pages_requeued: int
    resplit: bool


class RerunAnswer(BaseModel):
    job_id: JobId
    rerun_of: JobId
    status: StatusName
