"""One result document, schema version 2: what a job's pages become in /result, result.json and hOCR.

The pages are read by the shipped models (run_page, as a worker runs it); the API
is the Flask app itself, on SQLite and local disk.
"""

from __future__ import annotations

import io
import json

from jsonschema import Draft202012Validator
from PIL import Image, ImageDraw, ImageFont

from db.keys import create_key
from pipeline.result import Document
from tests.unit.platform.test_worker_steps import add_job
from worker import finishing, page_runner, splitting

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def picture(text: str) -> Image.Image:
    image = Image.new("RGB", (520, 120), "white")
    ImageDraw.Draw(image).text((30, 40), text, font=ImageFont.truetype(FONT, 30), fill="black")
    return image


def encoded(images: list[Image.Image], fmt: str) -> bytes:
    buf = io.BytesIO()
    images[0].save(buf, fmt, save_all=len(images) > 1, append_images=images[1:])
    return buf.getvalue()


def finished_job(ctx, uploads: list[tuple[str, bytes]]) -> tuple[str, str]:
    """A job over ``uploads`` read to the end by the shipped models; returns its id and an admin key."""
    job_id = add_job(ctx, uploads, outputs="json,hocr,txt")
    for page_id in splitting.split_job(ctx, job_id).page_ids:
        page_runner.run_page(ctx, page_id, "test-worker")
    assert finishing.finish_job(ctx, job_id)
    with ctx.db.session() as s:
        return job_id, create_key(s, "reader", admin=True).key


def test_the_schema_is_published_without_a_key(settings):
    from api.app import create_app

    answer = create_app(settings).test_client().get("/schemas/result-v2.json")
    assert answer.status_code == 200 and answer.content_type == "application/schema+json"
    schema = answer.get_json()
    Draft202012Validator.check_schema(schema)
    assert schema["properties"]["schema_version"]["const"] == 2
    assert schema["$defs"]["Page"]["properties"]["lines"]["deprecated"] is True


def test_result_and_result_json_are_one_v2_document_with_each_page_s_source(context, settings):
    from api.app import create_app

    uploads = [
        ("cover.png", encoded([picture("Annual summary")], "PNG")),
        ("scan.tif", encoded([picture("first page"), picture("second page")], "TIFF")),
    ]
    job_id, key = finished_job(context, uploads)
    client = create_app(settings).test_client()
    auth = {"Authorization": f"Bearer {key}"}
    schema = Draft202012Validator(client.get("/schemas/result-v2.json").get_json())

    live = client.get(f"/v1/jobs/{job_id}/result", headers=auth).get_json()
    stored = json.loads(client.get(f"/v1/jobs/{job_id}/result.json", headers=auth).data)
    for document in (live, stored):
        assert not list(schema.iter_errors(document)), [e.message for e in schema.iter_errors(document)]
    envelope = {"job_id", "status", "complete", "pages_total"}
    assert {k: v for k, v in live.items() if k not in envelope} == stored
    assert set(live) - set(stored) == envelope

    doc = Document.from_dict(stored)
    assert doc.schema_version == 2
    where = [(p.page_number, p.source_page, p.file_name, p.file_index) for p in doc.pages]
    assert where == [(1, 1, "cover.png", 0), (2, 1, "scan.tif", 1), (3, 2, "scan.tif", 1)]
    words = [w.text for p in doc.pages for w in p.words]
    assert "summary" in words and "second" in words, words

    # ?pages= picks from the same document
    third = client.get(f"/v1/jobs/{job_id}/result?pages=3", headers=auth).get_json()
    assert [p["source_page"] for p in third["pages"]] == [2] and third["pages"][0] == stored["pages"][2]

    hocr = client.get(f"/v1/jobs/{job_id}/result.hocr", headers=auth).data.decode("utf-8")
    assert 'ppageno 1; x_source &quot;scan.tif&quot;"' in hocr and hocr.count('class="ocrx_word"') == len(words)
