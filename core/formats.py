"""The output formats a job can ask for: the one table the API, the worker, ``ocr`` and ``ocrctl`` read.

Plain data, no imports beyond the standard library, so the HTTP client can use it
without Flask or torch. Adding a format here is not enough on its own: the worker
(worker/finishing.py) and ``ocr`` (pipeline/cli.py) must know how to render it;
tests/unit/test_output_formats.py renders every format of this table with both.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OutputFormat:
    ext: str  # the name in ``outputs=``, in ``result.<ext>`` and in ``--format``
    media_type: str  # Content-Type of GET /v1/jobs/<id>/result.<ext>
    description: str
    binary: bool = False  # not text: never printed to a terminal

    @property
    def suffix(self) -> str:
        """The file name suffix ocr/ocrctl write it under."""
        return f".{self.ext}"


FORMATS: tuple[OutputFormat, ...] = (
    OutputFormat("json", "application/json", "pages, lines, boxes and confidences (the result schema)"),
    OutputFormat("txt", "text/plain; charset=utf-8", "plain text in reading order"),
    OutputFormat("hocr", "application/xhtml+xml; charset=utf-8", "hOCR 1.2 (XHTML) with line and word boxes"),
    OutputFormat("pdf", "application/pdf", "searchable PDF: the page images with an invisible text layer", binary=True),
)
BY_EXT: dict[str, OutputFormat] = {f.ext: f for f in FORMATS}
EXTENSIONS: tuple[str, ...] = tuple(BY_EXT)
DEFAULT_OUTPUTS: tuple[str, ...] = EXTENSIONS  # a job that names no outputs gets every format


def result_path(ext: str) -> str:
    """The path under /v1/jobs/<id> that serves ``ext``; JSON's canonical one takes ?pages=."""
    return "/result" if ext == "json" else f"/result.{ext}"
