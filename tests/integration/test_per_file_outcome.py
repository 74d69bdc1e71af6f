"""One bad file no longer refuses its whole request: the good ones are read, each bad one is reported.

Also: file names in the job lists (client and dashboard), and outputs a job did not ask for.
"""

from __future__ import annotations

import pytest

from tests.integration.documents import not_an_image, pdf, png, text_page

pytestmark = pytest.mark.integration

UNSUPPORTED = "The file is not a supported image (PNG, JPEG, TIFF, BMP, WebP) or a PDF."


@pytest.fixture(scope="module")
def mixed(alice):
    """A photo, a text file named .png, an empty PDF and a two-page PDF, in that order; only json asked for."""
    files = [
        (png(text_page(["Good one"], size=(500, 120))), "good.png"),
        (not_an_image(), "notes.png"),
        (b"", "empty.pdf"),
        (pdf([text_page(["Second file"], size=(500, 120)), text_page(["Its page two"], size=(500, 120))]), "two.pdf"),
    ]
    answer = alice.submit(files, outputs="json", job_tag="per-file", client_request_token="per-file-1")
    assert answer.status_code == 202, answer.json
    job = alice.wait(answer.json["job_id"])
    return {"files": files, "answer": answer, "job": job}


REJECTED = [
    {"index": 1, "filename": "notes.png", "code": "unsupported_format", "message": UNSUPPORTED},
    {"index": 2, "filename": "empty.pdf", "code": "empty_file", "message": "The file is empty."},
]


def test_the_answer_lists_the_accepted_and_the_rejected_files(mixed):
    body = mixed["answer"].json
    assert body["status"] == "queued"
    assert body["accepted"] == [{"index": 0, "filename": "good.png"}, {"index": 3, "filename": "two.pdf"}]
    assert body["rejected"] == REJECTED


def test_the_job_reads_the_good_files_and_keeps_the_bad_ones_in_its_status(mixed):
    job = mixed["job"]
    assert job["status"] == "partial_success", job
    assert (job["pages_total"], job["pages_done"], job["pages_failed"]) == (3, 3, 0)
    assert job["error"] is None
    assert job["rejected"] == REJECTED
    assert job["filenames"] == ["good.png", "notes.png", "empty.pdf", "two.pdf"]
    assert [(f["index"], f["filename"], f["status"], f["error"] and f["error"]["code"]) for f in job["files"]] == [
        (0, "good.png", "ready", None),
        (1, "notes.png", "rejected", "unsupported_format"),
        (2, "empty.pdf", "rejected", "empty_file"),
        (3, "two.pdf", "ready", None),
    ]
    # A page's file_index is the file's place in the request, shared with the rejected files.
    assert [(p["page_number"], p["file_index"], p["source_page"]) for p in job["pages"]] == [(1, 0, 1), (2, 3, 1), (3, 3, 2)]


def test_a_repeated_request_answers_the_same_outcome(mixed, alice):
    again = alice.submit(mixed["files"], outputs="json", job_tag="per-file", client_request_token="per-file-1")
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json["job_id"] == mixed["job"]["job_id"]
    assert (again.json["accepted"], again.json["rejected"]) == (mixed["answer"].json["accepted"], REJECTED)


def test_the_job_lists_name_the_files(mixed, alice, admin):
    job_id = mixed["job"]["job_id"]
    listed = {j["job_id"]: j for j in alice.get("/v1/jobs?tag=per-file").json["jobs"]}
    assert listed[job_id]["filenames"] == ["good.png", "notes.png", "empty.pdf", "two.pdf"]
    dashboard = {j["job_id"]: j for j in admin.get("/v1/admin/jobs?tag=per-file").json["jobs"]}
    assert dashboard[job_id]["filenames"] == ["good.png", "notes.png", "empty.pdf", "two.pdf"]
    detail = admin.get(f"/v1/admin/jobs/{job_id}").json
    assert [f["status"] for f in detail["files"]] == ["ready", "rejected", "rejected", "ready"]


def test_a_text_output_not_asked_for_is_made_on_demand_and_a_pdf_is_refused_with_the_reason(mixed, alice):
    job_id = mixed["job"]["job_id"]
    assert mixed["job"]["outputs"] == ["json"]
    text = alice.get(f"/v1/jobs/{job_id}/result.txt")
    assert text.status_code == 200 and text.content_type.startswith("text/plain")
    pages = text.data.decode().split("\f")  # pages are form-feed separated
    assert len(pages) == 3 and all(page.strip() for page in pages), pages  # each page has the line printed on it
    hocr = alice.get(f"/v1/jobs/{job_id}/result.hocr")
    assert hocr.status_code == 200 and hocr.data.count(b'class="ocr_page"') == 3
    refused = alice.get(f"/v1/jobs/{job_id}/result.pdf")
    assert refused.status_code == 409 and refused.json["error"] == "output_not_requested"
    assert "outputs=json" in refused.json["message"] and "submit the files again" in refused.json["message"]


def test_a_request_of_bad_files_only_is_refused_and_nothing_is_stored(alice, platform):
    before_inputs = platform.storage_files("inputs")
    before_jobs = alice.get("/v1/jobs?tag=all-bad").json["total"]
    answer = alice.submit([(not_an_image(), "notes.png"), (b"", "empty.pdf")], job_tag="all-bad")
    assert answer.status_code == 415, answer.json
    assert answer.json["error"] == "unsupported_format"
    assert "notes.png" in answer.json["message"] and "empty.pdf" in answer.json["message"]
    assert answer.json["rejected"] == [
        {"index": 0, "filename": "notes.png", "code": "unsupported_format", "message": UNSUPPORTED},
        {"index": 1, "filename": "empty.pdf", "code": "empty_file", "message": "The file is empty."},
    ]
    assert platform.storage_files("inputs") == before_inputs
    assert alice.get("/v1/jobs?tag=all-bad").json["total"] == before_jobs
