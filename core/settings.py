"""One settings object, read from the environment once per process."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return default if raw in (None, "") else int(raw)


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return default if raw in (None, "") else float(raw)


def _str(name: str, default: str) -> str:
    raw = os.environ.get(name)
    return default if raw in (None, "") else raw


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    return default if raw in (None, "") else raw.strip().lower() in ("1", "true", "yes", "on")


def _words(name: str) -> tuple[str, ...]:
    """A list separated by commas and/or spaces."""
    return tuple(w for w in os.environ.get(name, "").replace(",", " ").split() if w)


@dataclass(frozen=True)
class Settings:
    # pipeline
    device: str  # auto | cpu | cuda
    model_dir: Path
    pdf_dpi: int
    max_image_pixels: int  # per decoded page; guards against decompression bombs
    max_page_side: int
    torch_threads: int  # 0 = let torch decide
    # platform
    database_url: str
    broker_url: str
    storage_url: str  # file:///abs/path or s3://bucket/prefix
    s3_endpoint_url: str
    data_dir: Path
    max_upload_bytes: int
    max_pages_per_job: int
    page_soft_time_limit: int
    page_hard_time_limit: int
    max_page_attempts: int
    api_host: str
    api_port: int
    # gunicorn (api/gunicorn_conf.py): processes (0: two per core) and threads in each
    api_workers: int = 0
    api_threads: int = 16
    # seconds a process trusts an API key it has looked up (api/auth.py); 0 looks every request up
    key_cache_seconds: float = 2.0
    # platform (job service); defaults so code that builds Settings by hand keeps working
    broker_visibility_timeout: int = 240  # seconds; must stay above page_hard_time_limit
    broker_key_prefix: str = ""  # prefixes every Redis key (lets test runs share one Redis)
    max_files_per_job: int = 100
    default_rate_limit: int = 600  # requests per minute for keys without their own limit; 0 = none
    sync_timeout: int = 60  # seconds /api/ocr and POST /v1/index wait for their job
    webhook_timeout: float = 10.0
    webhook_max_retries: int = 6
    webhook_backoff: int = 5  # seconds before the first webhook retry; doubles each time
    pipeline_factory: str = "pipeline.pipeline:get_pipeline"  # "module:callable(lang)"; tests swap in a fault injector
    anonymous_compat: bool = False  # let /api/ocr and /v1/index run without an API key
    heartbeat_interval: int = 10  # seconds between worker heartbeats; a worker silent for 3x this is offline
    # recovery (worker/reconciler.py, worker/tasks.py)
    reconcile_interval: float = 15.0  # seconds between sweeps for work whose queue message went missing
    reconcile_grace: float = 30.0  # seconds a state may wait for its message before the sweep sends it again
    retention_days: float = 30.0  # ended jobs and their files are deleted this long after they end; 0 keeps them
    transient_retries: int = 10  # retries of a task whose database or storage is away, before the sweep takes over
    transient_backoff_max: int = 300  # seconds; the longest wait between those retries (before jitter)
    enqueue_patience: float = 60.0  # seconds a worker keeps trying to send a message while Redis is away
    # Host names and CIDR ranges callbacks may reach although they are private/loopback (private deployments).
    webhook_allow: tuple[str, ...] = ()
    max_sync_waits: int = 2  # waiting /api/ocr + POST /v1/index per API process, below its threads; more get 429
    metrics_public: bool = False  # let /metrics answer without an admin key (a scraper inside a private network)
    max_decoded_bytes: int = 1024 * 1024 * 1024  # memory one decoded page may take while it is read and converted
    # pipeline runtime (pipeline/runtime.py): auto = ONNX Runtime on the CPU, torch on a GPU; torch_threads
    # is the threads per process of either runtime
    runtime: str = "auto"  # auto | torch | onnx
    # ONNX graphs exported from models/ (pipeline/onnx_models.py). Not under OCR_DATA_DIR: they are named
    # by content, so every data directory (each test run has its own) shares them.
    model_cache_dir: Path = REPO_ROOT / "var" / "model-cache"
    # the recognizer's graph in int8: its convolutions statically (ranges calibrated on rendered lines,
    # run as QLinearConv), its matrix products and LSTMs dynamically (pipeline/export_onnx.py)
    onnx_int8: bool = True
    # pages a worker process reads together through Pipeline.run_pages (worker/batching.py);
    # 0 = by device: 8 on a CUDA GPU, 1 (page by page) on the CPU
    worker_batch: int = 0

    @classmethod
    def from_env(cls) -> Settings:
        data_dir = Path(_str("OCR_DATA_DIR", str(REPO_ROOT / "var")))
        hard_limit = _int("OCR_PAGE_HARD_TIME_LIMIT", 180)
        return cls(
            device=_str("OCR_DEVICE", "auto"),
            model_dir=Path(_str("OCR_MODEL_DIR", str(REPO_ROOT / "models"))),
            pdf_dpi=_int("OCR_PDF_DPI", 200),
            max_image_pixels=_int("OCR_MAX_IMAGE_PIXELS", 120_000_000),
            max_page_side=_int("OCR_MAX_PAGE_SIDE", 20_000),
            torch_threads=_int("OCR_TORCH_THREADS", 0),
            database_url=_str("OCR_DATABASE_URL", f"sqlite:///{data_dir / 'ocr.db'}"),
            broker_url=_str("OCR_BROKER_URL", "redis://127.0.0.1:6379/0"),
            storage_url=_str("OCR_STORAGE_URL", f"file://{data_dir / 'storage'}"),
            s3_endpoint_url=_str("OCR_S3_ENDPOINT_URL", ""),
            data_dir=data_dir,
            max_upload_bytes=_int("OCR_MAX_UPLOAD_BYTES", 100 * 1024 * 1024),
            max_pages_per_job=_int("OCR_MAX_PAGES_PER_JOB", 500),
            page_soft_time_limit=_int("OCR_PAGE_SOFT_TIME_LIMIT", 120),
            page_hard_time_limit=hard_limit,
            max_page_attempts=_int("OCR_MAX_PAGE_ATTEMPTS", 3),
            api_host=_str("OCR_API_HOST", "127.0.0.1"),
            api_port=_int("OCR_API_PORT", 8000),
            api_workers=_int("OCR_API_WORKERS", 0),
            api_threads=_int("OCR_API_THREADS", 16),
            key_cache_seconds=_float("OCR_KEY_CACHE_SECONDS", 2.0),
            broker_visibility_timeout=_int("OCR_BROKER_VISIBILITY_TIMEOUT", hard_limit + 60),
            broker_key_prefix=_str("OCR_BROKER_KEY_PREFIX", ""),
            max_files_per_job=_int("OCR_MAX_FILES_PER_JOB", 100),
            default_rate_limit=_int("OCR_DEFAULT_RATE_LIMIT", 600),
            sync_timeout=_int("OCR_SYNC_TIMEOUT", 60),
            webhook_timeout=_float("OCR_WEBHOOK_TIMEOUT", 10.0),
            webhook_max_retries=_int("OCR_WEBHOOK_MAX_RETRIES", 6),
            webhook_backoff=_int("OCR_WEBHOOK_BACKOFF", 5),
            pipeline_factory=_str("OCR_PIPELINE_FACTORY", "pipeline.pipeline:get_pipeline"),
            anonymous_compat=_bool("OCR_ANONYMOUS_COMPAT", False),
            heartbeat_interval=_int("OCR_HEARTBEAT_INTERVAL", 10),
            reconcile_interval=_float("OCR_RECONCILE_INTERVAL", 15.0),
            reconcile_grace=_float("OCR_RECONCILE_GRACE", 30.0),
            retention_days=_float("OCR_RETENTION_DAYS", 30.0),
            transient_retries=_int("OCR_TRANSIENT_RETRIES", 10),
            transient_backoff_max=_int("OCR_TRANSIENT_BACKOFF_MAX", 300),
            enqueue_patience=_float("OCR_ENQUEUE_PATIENCE", 60.0),
            webhook_allow=_words("OCR_WEBHOOK_ALLOW"),
            max_sync_waits=_int("OCR_MAX_SYNC_WAITS", 2),
            metrics_public=_bool("OCR_METRICS_PUBLIC", False),
            max_decoded_bytes=_int("OCR_MAX_DECODED_BYTES", 1024 * 1024 * 1024),
            runtime=_str("OCR_RUNTIME", "auto"),
            model_cache_dir=Path(_str("OCR_MODEL_CACHE", str(REPO_ROOT / "var" / "model-cache"))),
            onnx_int8=_bool("OCR_ONNX_INT8", True),
            worker_batch=_int("OCR_WORKER_BATCH", 0),
        )


@functools.cache
def get_settings() -> Settings:
    return Settings.from_env()
