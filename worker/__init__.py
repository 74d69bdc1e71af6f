"""Celery workers: split jobs into pages, run the pipeline per page, assemble outputs, call back.

State and retries only; the OCR itself is ``pipeline``'s.
"""
