"""Where uploads, page images and results live: local disk by default, or an S3 bucket.

``get_storage(settings)`` picks the backend from ``settings.storage_url``
(``file:///abs/path`` or ``s3://bucket/prefix``). Keys are relative paths:

    inputs/<sha256[:2]>/<sha256>        an upload, stored once however many jobs send it
    jobs/<job_id>/pages/<n>.png         page n as rasterised for the pipeline
    jobs/<job_id>/result.<ext>          the assembled outputs (txt, json, hocr, pdf)
"""

from __future__ import annotations

from storage.base import Storage, input_key, job_prefix, output_key, page_image_key
from storage.factory import get_storage, open_storage

__all__ = ["Storage", "get_storage", "input_key", "job_prefix", "open_storage", "output_key", "page_image_key"]
