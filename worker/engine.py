"""The pipeline a worker runs, chosen by settings.pipeline_factory ("module:callable").

The default, ``pipeline.pipeline:get_pipeline``, loads the models once per
process on first use. Tests name a fault-injecting stage with the same
interface instead (like OCRmyPDF's test plugins); nothing else does.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable

from core.errors import InvalidOption


@functools.cache
def _factory(spec: str) -> Callable:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise InvalidOption(f"OCR_PIPELINE_FACTORY {spec!r} must look like 'package.module:function'.")
    return getattr(importlib.import_module(module_name), attr)


def pipeline_for(spec: str, lang: str):
    """An object with ``run_page(image, page_number, detect_orientation=True) -> pipeline.result.Page``."""
    return _factory(spec)(lang)
