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

    @classmethod
    def from_env(cls) -> "Settings":
        data_dir = Path(_str("OCR_DATA_DIR", str(REPO_ROOT / "var")))
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
            page_hard_time_limit=_int("OCR_PAGE_HARD_TIME_LIMIT", 180),
            max_page_attempts=_int("OCR_MAX_PAGE_ATTEMPTS", 3),
            api_host=_str("OCR_API_HOST", "127.0.0.1"),
            api_port=_int("OCR_API_PORT", 8000),
        )


@functools.cache
def get_settings() -> Settings:
    return Settings.from_env()
