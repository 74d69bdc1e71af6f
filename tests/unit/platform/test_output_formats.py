"""core/formats.py is the one table of output formats: everything that offers a format renders or fetches each of them."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from core.formats import BY_EXT, EXTENSIONS, FORMATS
from pipeline.result import Document, Line, Page


def _document() -> Document:
    line = Line("Hello 你好", 0.9, [(10, 10), (200, 10), (200, 40), (10, 40)], (10, 10, 200, 40))
    return Document(pages=[Page(1, 300, 100, 0, 0.99, [line])], lang="mix")


def _image() -> Image.Image:
    return Image.new("RGB", (300, 100), "white")


@pytest.mark.parametrize("ext", EXTENSIONS)
def test_the_worker_renders_every_format(ext, context):
    from db.models import Page as PageRow
    from worker.finishing import render_output

    buffer = io.BytesIO()
    _image().save(buffer, "PNG")
    context.storage.put("pages/test/1.png", buffer.getvalue())
    data = render_output(context, ext, _document(), [PageRow(image_key="pages/test/1.png")])
    assert data and isinstance(data, bytes)
    if not BY_EXT[ext].binary:
        data.decode("utf-8")


@pytest.mark.parametrize("ext", EXTENSIONS)
def test_ocr_run_renders_every_format(ext):
    from pipeline.cli import _render

    rendered = _render(_document(), [_image()], ext)
    assert isinstance(rendered, bytes) == BY_EXT[ext].binary and rendered


def test_the_client_and_both_command_lines_offer_exactly_the_table():
    from client.cli import result as ocrctl_result
    from client.http import RESULT_PATHS
    from pipeline.cli import build_parser

    assert tuple(RESULT_PATHS) == EXTENSIONS
    (fmt,) = [p for p in ocrctl_result.params if p.name == "fmt"]
    assert tuple(fmt.type.choices) == EXTENSIONS
    run = build_parser()._subparsers._group_actions[0].choices["run"]
    (action,) = [a for a in run._actions if a.dest == "format"]
    assert tuple(action.choices) == EXTENSIONS
    assert len({f.media_type for f in FORMATS}) == len(FORMATS)
