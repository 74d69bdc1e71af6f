"""Every kind of bad input gets a clear error, and nothing else is lost: no crash, no stuck job."""

from __future__ import annotations

import pytest

from tests.integration.documents import (
    blank_pdf,
    corrupt_pdf,
    encrypted_pdf,
    huge_png,
    not_an_image,
    png,
    text_page,
    truncated_jpeg,
)

pytestmark = pytest.mark.integration


# --- refused at the door: answered at once, nothing stored --------------------------------------
def test_a_text_file_named_png_is_refused_by_its_bytes(alice):
    answer = alice.submit([(not_an_image(), "scan.png")])
    assert answer.status_code == 415
    assert answer.json["error"] == "unsupported_format"
    assert "scan.png" in answer.json["message"]


def test_an_empty_file_is_refused(alice):
    answer = alice.submit([(b"", "empty.pdf")])
    assert answer.status_code == 400 and answer.json["error"] == "empty_file"


def test_an_upload_over_the_size_limit_is_refused(alice, platform):
    big = b"%PDF-1.7\n" + b"0" * (platform.settings.max_upload_bytes + 10)
    answer = alice.submit([(big, "big.pdf")])
    assert answer.status_code == 413 and answer.json["error"] == "file_too_large"


def test_a_request_without_a_file_is_refused(alice):
    answer = alice.client.post("/v1/jobs", headers=alice.headers, data={"lang": "en"})
    assert answer.status_code == 400 and answer.json["error"] == "invalid_input"


@pytest.mark.parametrize(
    ("options", "code"),
    [
        ({"lang": "fr"}, "invalid_option"),
        ({"pages": "3-1"}, "invalid_page_range"),
        ({"pages": "one"}, "invalid_page_range"),
        ({"outputs": "docx"}, "invalid_option"),
        ({"detect_orientation": "maybe"}, "invalid_option"),
        ({"callback_url": "ftp://example.com/hook"}, "invalid_option"),
        ({"client_request_token": "has spaces in it"}, "invalid_option"),
    ],
)
def test_bad_options_are_refused(alice, options, code):
    answer = alice.submit([(png(text_page(["x"])), "x.png")], **options)
    assert answer.status_code == 400, answer.json
    assert answer.json["error"] == code and answer.json["message"]


def test_unknown_routes_and_methods_answer_json(client):
    assert client.get("/v2/nothing").json["error"] == "not_found"
    answer = client.put("/v1/jobs")
    assert answer.status_code == 405 and answer.json["error"] == "method_not_allowed"


# --- found out by the worker: a per-file error on the job ---------------------------------------
BROKEN = {
    "truncated.jpg": (truncated_jpeg(), {}, "corrupt_file"),
    "locked.pdf": (encrypted_pdf(), {}, "encrypted_pdf"),
    "damaged.pdf": (corrupt_pdf(), {}, "corrupt_file"),
    "bomb.png": (huge_png(), {}, "image_too_large"),
    "long.pdf": (blank_pdf(13), {}, "too_many_pages"),  # the test platform allows 12 pages a job
    "short.pdf": (blank_pdf(2), {"pages": "5"}, "invalid_page_range"),
}


@pytest.fixture(scope="module")
def broken_jobs(alice):
    submitted = {}
    for name, (data, options, _code) in BROKEN.items():
        answer = alice.submit([(data, name)], **options)
        assert answer.status_code == 202, (name, answer.json)
        submitted[name] = answer.json["job_id"]
    return {name: alice.wait(job_id, timeout=120) for name, job_id in submitted.items()}


@pytest.mark.parametrize("name", list(BROKEN))
def test_a_broken_file_fails_its_job_with_a_clear_error(broken_jobs, name):
    job = broken_jobs[name]
    code = BROKEN[name][2]
    assert job["status"] == "failed"
    assert job["error"]["code"] == code
    assert name in job["error"]["message"]
    # Found when the file was split into pages, or (a truncated image) when its page was decoded.
    where = job["files"][0]["error"] or job["pages"][0]["error"]
    assert where["code"] == code
    assert "Traceback" not in job["error"]["message"]
    assert job["pages_done"] == 0 and job["finished_at"]


def test_a_bad_file_beside_good_ones_gives_partial_success(alice, platform, broken_jobs):
    good = png(text_page(["The good page"]))
    job_id = alice.submit([(good, "good.png"), (corrupt_pdf(), "bad.pdf")]).json["job_id"]
    job = alice.wait(job_id)
    assert job["status"] == "partial_success"
    assert (job["pages_total"], job["pages_done"]) == (1, 1)
    assert [f["status"] for f in job["files"]] == ["ready", "failed"]
    assert job["files"][1]["error"]["code"] == "corrupt_file"
    assert alice.get(f"/v1/jobs/{job_id}/result.txt").status_code == 200
    assert platform.worker.proc.poll() is None  # the worker never went down
