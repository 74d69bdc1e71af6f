"""Cancel stops a job cooperatively; delete removes the job, its images, results and unshared uploads."""

from __future__ import annotations

import time

import pytest

from tests.integration.documents import pdf, png, text_page

pytestmark = pytest.mark.integration


def test_cancel_drops_pages_not_started_and_ends_cancelled(alice):
    slow = pdf([text_page([f"Slow page {n}"], marker="slow") for n in range(1, 7)])
    job_id = alice.submit([(slow, "slow.pdf")], outputs="txt").json["job_id"]
    alice.wait_for(job_id, lambda j: any(p["status"] == "running" for p in j["pages"]))

    answer = alice.post(f"/v1/jobs/{job_id}/cancel")
    assert answer.status_code == 202
    assert answer.json == {"job_id": job_id, "status": "cancelling"}
    assert alice.post(f"/v1/jobs/{job_id}/cancel").status_code == 202  # asking twice is fine

    job = alice.wait(job_id)
    assert job["status"] == "cancelled"
    assert job["pages_total"] == 6
    assert job["pages_cancelled"] >= 1
    assert job["pages_done"] + job["pages_failed"] + job["pages_cancelled"] == 6
    cancelled = [p for p in job["pages"] if p["status"] == "cancelled"]
    assert len(cancelled) == job["pages_cancelled"]
    assert all(p["attempts"] == 0 for p in cancelled)  # never started
    # What was read before the cancel is kept.
    result = alice.get(f"/v1/jobs/{job_id}/result").json
    assert len(result["pages"]) == job["pages_done"]
    assert alice.post(f"/v1/jobs/{job_id}/cancel").status_code == 202


def test_cancel_of_a_finished_job_is_a_conflict(alice):
    job_id = alice.submit([(png(text_page(["done"])), "p.png")], outputs="json").json["job_id"]
    assert alice.wait(job_id)["status"] == "succeeded"
    answer = alice.post(f"/v1/jobs/{job_id}/cancel")
    assert answer.status_code == 409 and answer.json["error"] == "conflict"


def test_delete_removes_job_images_results_and_unshared_upload(alice, platform):
    upload = png(text_page(["To be deleted"]))
    job_id = alice.submit([(upload, "d.png")]).json["job_id"]
    assert alice.wait(job_id)["status"] == "succeeded"
    sha = alice.job(job_id)["files"][0]["sha256"]
    assert platform.storage_files(f"jobs/{job_id}")  # page image and results
    assert platform.storage_files(f"inputs/{sha[:2]}")

    assert alice.delete(f"/v1/jobs/{job_id}").status_code == 204
    assert alice.get(f"/v1/jobs/{job_id}").status_code == 404
    assert alice.get(f"/v1/jobs/{job_id}/result.txt").status_code == 404
    assert alice.delete(f"/v1/jobs/{job_id}").status_code == 404
    assert platform.storage_files(f"jobs/{job_id}") == []
    assert not any(p.name == sha for p in platform.storage_files("inputs"))


def test_uploads_are_stored_once_and_kept_while_another_job_uses_them(alice, platform):
    upload = png(text_page(["Shared upload"]))
    first = alice.submit([(upload, "a.png")]).json["job_id"]
    second = alice.submit([(upload, "b.png")]).json["job_id"]
    sha = alice.job(first)["files"][0]["sha256"]
    assert alice.job(second)["files"][0]["sha256"] == sha
    assert [p.name for p in platform.storage_files("inputs") if p.name == sha] == [sha]

    # Deleting a job that may still be running: its upload stays for the other job.
    assert alice.delete(f"/v1/jobs/{first}").status_code == 204
    assert any(p.name == sha for p in platform.storage_files("inputs"))
    assert alice.wait(second)["status"] == "succeeded"

    assert alice.delete(f"/v1/jobs/{second}").status_code == 204
    assert not any(p.name == sha for p in platform.storage_files("inputs"))
    # A page of the first job that was being read when it was deleted cleans up after itself.
    deadline = time.monotonic() + 30
    while platform.storage_files(f"jobs/{first}") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert platform.storage_files(f"jobs/{first}") == []
