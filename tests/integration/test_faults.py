"""Worker faults: a page that kills its worker, a retryable error, and kill -9 of the whole worker.

Pages carry a marker that tests/integration/fault_stage.py acts on; everything
else runs through the real pipeline.
"""

from __future__ import annotations

import pytest

from tests.integration.documents import pdf, png, text_page

pytestmark = pytest.mark.integration


def test_a_page_that_kills_its_worker_fails_after_max_attempts(alice, platform):
    doc = pdf([text_page(["A page that reads fine"]), text_page(["A page that crashes"], marker="crash")])
    job = alice.wait(alice.submit([(doc, "crash.pdf")], outputs="json,txt").json["job_id"])
    assert job["status"] == "partial_success"
    good, bad = job["pages"]
    assert good["status"] == "done"
    assert bad["status"] == "failed"
    assert bad["error"]["code"] == "page_attempts_exhausted"
    limit = platform.settings.max_page_attempts
    assert bad["attempts"] == limit + 1  # each of `limit` attempts killed a worker; the next one gave up
    assert platform.worker.proc.poll() is None  # the worker's main process replaced its dead children


def test_a_retryable_error_is_retried_then_fails_the_page(alice, platform):
    job = alice.wait(alice.submit([(png(text_page(["Out of memory"], marker="oom")), "oom.png")]).json["job_id"])
    assert job["status"] == "failed"
    page = job["pages"][0]
    assert page["error"]["code"] == "resource_exhausted"
    assert page["attempts"] == platform.settings.max_page_attempts
    assert job["error"]["code"] == "resource_exhausted"


def test_a_transient_error_that_clears_is_retried_to_success(alice):
    job = alice.wait(alice.submit([(png(text_page(["Flaky once"], marker="flaky")), "flaky.png")]).json["job_id"])
    assert job["status"] == "succeeded"
    assert job["pages"][0]["attempts"] == 2


def test_kill_9_of_the_worker_mid_job_then_a_new_worker_completes_it_exactly_once(alice, platform):
    platform.worker.stop()  # the only consumer from now on is the worker we kill
    doomed = platform.new_worker("doomed", concurrency=1).start()
    pages = [text_page([f"Kill test page {n}"], marker="slow") for n in range(1, 5)]
    job_id = alice.submit([(pdf(pages), "kill.pdf")]).json["job_id"]

    alice.wait_for(job_id, lambda j: j["pages_done"] >= 1 and any(p["status"] == "running" for p in j["pages"]))
    doomed.kill9()
    assert alice.job(job_id)["status"] == "running"

    platform.worker = platform.new_worker("replacement").start()
    job = alice.wait(job_id, timeout=300)
    assert job["status"] == "succeeded", job
    assert (job["pages_total"], job["pages_done"], job["pages_failed"]) == (4, 4, 0)
    assert [p["status"] for p in job["pages"]] == ["done"] * 4
    assert max(p["attempts"] for p in job["pages"]) >= 2  # the page in hand at the kill ran again

    result = alice.get(f"/v1/jobs/{job_id}/result").json
    assert [p["page_number"] for p in result["pages"]] == [1, 2, 3, 4]  # every page, once
    assert alice.get(f"/v1/jobs/{job_id}/result.txt").get_data(as_text=True).count("\f") == 3
