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
    import hashlib

    from db.keys import create_key
    from db.models import Job, JobFile
    from db.models import Page as PageRow
    from storage import input_key
    from worker.finishing import render_output

    buffer = io.BytesIO()
    _image().save(buffer, "PNG")
    upload = buffer.getvalue()
    sha256 = hashlib.sha256(upload).hexdigest()
    context.storage.put(input_key(sha256), upload)  # the searchable PDF is made from the upload itself
    with context.db.session() as s:
        job = Job(api_key_id=create_key(s, "formats").record.id, outputs=ext)
        s.add(job)
        s.flush()
        upload_row = JobFile(job_id=job.id, position=0, filename="page.png", sha256=sha256, size_bytes=len(upload))
        s.add(upload_row)
        s.flush()
        file_id = upload_row.id
    data = render_output(context, ext, _document(), [PageRow(file_id=file_id, source_page=1)])
    assert data and isinstance(data, bytes)
    if not BY_EXT[ext].binary:
        data.decode("utf-8")


@pytest.mark.parametrize("ext", EXTENSIONS)
def test_ocr_run_renders_every_format(ext):
    from pipeline.cli import _render

    buffer = io.BytesIO()
    _image().save(buffer, "PNG")
    rendered = _render(_document(), buffer.getvalue(), ext)  # the PDF is grafted onto the input's own bytes
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
