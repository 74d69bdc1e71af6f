"""Batched workers (issue #13): OCR_WORKER_BATCH=4 on the CPU, real PostgreSQL, Redis and Celery.

A worker that batches reads up to four pages in one Pipeline.run_pages call
(worker/batching.py); each page must still be settled exactly once, read the
same as page by page, and a bad page must fail only itself.
"""

from __future__ import annotations

import pytest

from tests.integration.documents import char_error_rate, pdf, text_page

pytestmark = pytest.mark.integration

LINES_A = [f"Batch page {n} of job A" for n in range(1, 5)]
LINES_B = ["Second job, first page"]


def _batching_worker(platform, name: str):
    platform.worker.stop()  # the only consumer is the batching worker
    env = platform.env | {"OCR_WORKER_BATCH": "4", "OCR_PIPELINE_FACTORY": "tests.integration.batch_stage:get_pipeline"}
    return platform.new_worker(name, env=env, concurrency=1).start()


def _texts(api, job_id: str) -> list[str]:
    pages = api.get(f"/v1/jobs/{job_id}/result").json["pages"]
    return ["\n".join(line["text"] for line in p["lines"]) for p in pages]


def test_a_batching_worker_reads_each_page_once_like_page_by_page_and_a_bad_page_fails_alone(alice, platform):
    worker = _batching_worker(platform, "batch4")
    try:
        job_a = alice.submit([(pdf([text_page([t]) for t in LINES_A]), "a.pdf")], outputs="json,txt").json["job_id"]
        doc_b = pdf([text_page(LINES_B), text_page(["Out of memory in a batch"], marker="oom")])
        job_b = alice.submit([(doc_b, "b.pdf")], outputs="json,txt").json["job_id"]
        a, b = alice.wait(job_a, timeout=120), alice.wait(job_b, timeout=120)
    finally:
        worker.stop()
        platform.worker = platform.new_worker("after-batch").start()

    assert a["status"] == "succeeded", a
    assert (a["pages_total"], a["pages_done"], a["pages_failed"]) == (4, 4, 0)
    assert [p["attempts"] for p in a["pages"]] == [1, 1, 1, 1]  # each read once
    # the pages were read together: the worker records the size of the run_pages call that read each
    sizes = [p["timings"]["batch_size"] for p in a["pages"] + b["pages"][:1]]
    assert max(sizes) > 1, sizes
    assert [p["page_number"] for p in alice.get(f"/v1/jobs/{job_a}/result").json["pages"]] == [1, 2, 3, 4]

    # the bad page failed alone, with its own error, after its own attempts; its job-mate was read
    assert b["status"] == "partial_success", b
    good, bad = b["pages"]
    assert good["status"] == "done" and good["attempts"] == 1
    assert bad["status"] == "failed" and bad["error"]["code"] == "resource_exhausted"
    assert bad["attempts"] == platform.settings.max_page_attempts

    # the same pages page by page (the default worker, batch 1) read the same
    batched = _texts(alice, job_a) + _texts(alice, job_b)
    job_c = alice.submit([(pdf([text_page([t]) for t in LINES_A + [LINES_B[0]]]), "c.pdf")]).json["job_id"]
    c = alice.wait(job_c, timeout=120)
    assert c["status"] == "succeeded", c
    assert all(p["timings"]["batch_size"] == 1 for p in c["pages"])
    assert _texts(alice, job_c) == batched
    assert any("Batch page" in t for t in batched)


def test_a_batch_whose_process_dies_strands_no_page(alice, platform):
    """A page that kills its process mid-batch: the batch-mates' locks go with the process, their own
    messages read them again (alone), and only the crashing page uses up its attempts."""
    worker = _batching_worker(platform, "batch4-crash")
    try:
        pages = [text_page(["Crash batch page 1"]), text_page(["This one crashes"], marker="crash")]
        pages += [text_page([f"Crash batch page {n}"]) for n in (3, 4)]
        job_id = alice.submit([(pdf(pages), "crash-batch.pdf")], outputs="json,txt").json["job_id"]
        job = alice.wait(job_id, timeout=150)
        assert worker.proc.poll() is None  # the main process replaced its dead children
    finally:
        worker.stop()
        platform.worker = platform.new_worker("after-crash-batch").start()

    assert job["status"] == "partial_success", job
    assert (job["pages_done"], job["pages_failed"]) == (3, 1)
    statuses = [p["status"] for p in job["pages"]]
    assert statuses == ["done", "failed", "done", "done"]
    assert job["pages"][1]["error"]["code"] == "page_attempts_exhausted"
    # the others were in the batch the crash killed, then read once more on their own
    assert all(p["attempts"] <= 2 for i, p in enumerate(job["pages"]) if i != 1), job["pages"]
    texts = _texts(alice, job_id)
    wanted = ["Crash batch page 1", "Crash batch page 3", "Crash batch page 4"]
    assert len(texts) == 3 and all(char_error_rate(w, t) < 0.2 for w, t in zip(wanted, texts, strict=True)), texts
