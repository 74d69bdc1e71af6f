"""Submit a 3-page PDF and a photo, poll to succeeded, fetch every output; resubmit idempotently; list."""

from __future__ import annotations

import io
import subprocess
import xml.etree.ElementTree as ET

import pikepdf
import pytest
from PIL import Image

from tests.integration.documents import SENTENCES, char_error_rate, pdf, photo_of, text_page

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def flow(alice):
    scan = pdf([text_page([s]) for s in SENTENCES[:3]])
    photo = photo_of(text_page([SENTENCES[3]]))
    answer = alice.submit([(scan, "scan.pdf"), (photo, "photo.jpg")], lang="mix", job_tag="flow", client_request_token="flow-1")
    assert answer.status_code == 202, answer.json
    job = alice.wait(answer.json["job_id"])
    return {"answer": answer, "job": job, "scan": scan, "photo": photo}


def test_submission_answers_at_once(flow):
    answer = flow["answer"]
    assert set(answer.json) == {"job_id", "status", "accepted", "rejected"}
    assert answer.json["accepted"] == [{"index": 0, "filename": "scan.pdf"}, {"index": 1, "filename": "photo.jpg"}]
    assert answer.json["rejected"] == []
    assert answer.json["status"] == "queued"
    assert answer.headers["Location"] == f"/v1/jobs/{answer.json['job_id']}"
    assert int(answer.headers["Retry-After"]) >= 1


def test_job_succeeds_with_every_page_read_once(flow, alice):
    job = flow["job"]
    assert job["status"] == "succeeded", job
    assert (job["pages_total"], job["pages_done"], job["pages_failed"], job["pages_cancelled"]) == (4, 4, 0, 0)
    assert job["error"] is None
    assert [(f["filename"], f["format"], f["page_count"], f["status"]) for f in job["files"]] == [
        ("scan.pdf", "pdf", 3, "ready"),
        ("photo.jpg", "jpeg", 1, "ready"),
    ]
    assert [(p["page_number"], p["file_index"], p["source_page"], p["status"]) for p in job["pages"]] == [
        (1, 0, 1, "done"),
        (2, 0, 2, "done"),
        (3, 0, 3, "done"),
        (4, 1, 1, "done"),
    ]
    assert all(p["attempts"] == 1 for p in job["pages"])
    assert all({"rasterise", "total"} <= set(p["timings"]) for p in job["pages"])
    for stamp in ("created_at", "started_at", "finished_at"):
        assert job[stamp] and job[stamp].endswith("Z")
    assert job["created_at"] <= job["started_at"] <= job["finished_at"]

    result = alice.get(f"/v1/jobs/{job['job_id']}/result").json
    assert result["complete"] is True and result["status"] == "succeeded"
    assert [p["page_number"] for p in result["pages"]] == [1, 2, 3, 4]
    scan_page = text_page([SENTENCES[0]])
    assert (result["pages"][0]["width"], result["pages"][0]["height"]) == scan_page.size
    photo = Image.open(io.BytesIO(flow["photo"]))
    assert (result["pages"][3]["width"], result["pages"][3]["height"]) == photo.size
    for page in result["pages"]:
        assert page["angle"] in (0, 90, 180, 270)
        for line in page["lines"]:
            assert 0.0 <= line["confidence"] <= 1.0 and len(line["bbox"]) == 4 and len(line["polygon"]) == 4


def test_result_json_is_paged_by_page_range(flow, alice):
    job_id = flow["job"]["job_id"]
    assert [p["page_number"] for p in alice.get(f"/v1/jobs/{job_id}/result?pages=2-3").json["pages"]] == [2, 3]
    assert [p["page_number"] for p in alice.get(f"/v1/jobs/{job_id}/result?pages=4,1").json["pages"]] == [1, 4]
    bad = alice.get(f"/v1/jobs/{job_id}/result?pages=7")
    assert bad.status_code == 400 and bad.json["error"] == "invalid_page_range"


def test_text_hocr_and_searchable_pdf_outputs(flow, alice, tmp_path):
    job_id = flow["job"]["job_id"]
    txt = alice.get(f"/v1/jobs/{job_id}/result.txt")
    assert txt.status_code == 200 and txt.content_type.startswith("text/plain")
    assert txt.get_data(as_text=True).count("\f") == 3  # four pages

    hocr = alice.get(f"/v1/jobs/{job_id}/result.hocr")
    assert hocr.status_code == 200
    tree = ET.fromstring(hocr.data)
    pages = [el for el in tree.iter() if el.get("class") == "ocr_page"]
    assert len(pages) == 4

    result_pdf = alice.get(f"/v1/jobs/{job_id}/result.pdf")
    assert result_pdf.status_code == 200 and result_pdf.content_type == "application/pdf"
    with pikepdf.open(io.BytesIO(result_pdf.data)) as doc:
        assert len(doc.pages) == 4
    path = tmp_path / "result.pdf"
    path.write_bytes(result_pdf.data)
    extracted = subprocess.run(["pdftotext", str(path), "-"], capture_output=True)
    assert extracted.returncode == 0

    assert alice.get(f"/v1/jobs/{job_id}/result.json").json["pages"][0]["page_number"] == 1
    assert alice.get(f"/v1/jobs/{job_id}/result.docx").status_code == 404


def test_page_image_is_the_page_the_results_refer_to(flow, alice):
    job_id = flow["job"]["job_id"]
    image = alice.get(f"/v1/jobs/{job_id}/pages/2/image")
    assert image.status_code == 200 and image.content_type == "image/png"
    assert Image.open(io.BytesIO(image.data)).size == text_page([SENTENCES[1]]).size
    assert alice.get(f"/v1/jobs/{job_id}/pages/9/image").status_code == 404


@pytest.mark.trained
def test_the_text_is_read(flow, alice):
    """Needs trained weights: each page's text within 10% character error of what was rendered."""
    result = alice.get(f"/v1/jobs/{flow['job']['job_id']}/result").json
    for sentence, page in zip(SENTENCES, result["pages"], strict=True):
        read = "\n".join(line["text"] for line in page["lines"])
        assert char_error_rate(sentence, read) <= 0.10, (sentence, read)


def test_same_token_same_key_returns_the_same_job(flow, alice, bob):
    job_id = flow["job"]["job_id"]
    again = alice.submit([(b"%PDF-1.4 different bytes", "other.pdf")], client_request_token="flow-1")
    assert again.status_code == 202
    assert again.json["job_id"] == job_id
    assert again.headers["Idempotent-Replayed"] == "true"
    assert alice.get("/v1/jobs?tag=flow").json["total"] == 1

    # Tokens belong to a key: bob's "flow-1" is his own job.
    bobs = bob.submit([(flow["photo"], "photo.jpg")], client_request_token="flow-1", outputs="json")
    assert bobs.status_code == 202 and bobs.json["job_id"] != job_id
    assert bob.wait(bobs.json["job_id"])["status"] == "succeeded"


def test_job_list_filters_and_pages(flow, alice):
    job_id = flow["job"]["job_id"]
    listed = alice.get("/v1/jobs?status=succeeded&tag=flow").json
    assert [j["job_id"] for j in listed["jobs"]] == [job_id]
    assert listed["jobs"][0]["pages_done"] == 4
    assert alice.get("/v1/jobs?status=failed&tag=flow").json["total"] == 0
    first = alice.get("/v1/jobs?per_page=1&page=1").json
    assert first["per_page"] == 1 and len(first["jobs"]) == 1 and first["total"] >= 1
    assert alice.get(f"/v1/jobs?created_after={flow['job']['finished_at']}&tag=flow").json["total"] == 0
    assert alice.get("/v1/jobs?status=lost").status_code == 400
