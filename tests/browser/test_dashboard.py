"""The operations dashboard in a real browser: access, counts, a failed page and its retry, the job actions."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.browser.conftest import UI_TIMEOUT_MS
from tests.integration.documents import pdf, png, text_page, truncated_jpeg

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture(scope="module")
def finished_jobs(alice):
    """A good one-page job and one whose only file is a truncated photo (its page fails with corrupt_file)."""
    good = alice.submit([(png(text_page(["Dashboard 面板 test"])), "good.png")], job_tag="dash-good").json["job_id"]
    bad = alice.submit([(truncated_jpeg(), "broken-photo.jpg")], job_tag="dash-bad").json["job_id"]
    return {"good": alice.wait(good), "bad": alice.wait(bad)}


def test_non_admin_key_gets_no_dashboard_data(open_page, keys, finished_jobs):
    page = open_page(keys["alice"], "/dashboard")
    page.wait_for_selector("#gate", state="visible")
    assert page.inner_text("#gate-title") == "Admin key required"
    assert page.locator("#overview-view").is_hidden()
    assert page.locator("#stats .stat").count() == 0
    statuses = page.evaluate(
        """async (key) => Promise.all(['overview', 'throughput', 'stage-times', 'jobs'].map(
             (p) => fetch('/v1/admin/' + p, {headers: {'X-API-Key': key}}).then((r) => r.status)))""",
        keys["alice"],
    )
    assert statuses == [403, 403, 403, 403]


def test_without_a_key_the_dashboard_asks_for_an_admin_one(open_page):
    page = open_page(None, "/dashboard", lang="zh")
    page.wait_for_selector("#gate", state="visible")
    assert page.inner_text("#gate-title") == "需要管理员密钥"
    assert page.locator("#overview-view").is_hidden()


def test_dashboard_counts_the_job_and_shows_the_worker(open_page, keys, admin, finished_jobs):
    good = finished_jobs["good"]
    page = open_page(keys["admin"], "/dashboard")
    page.wait_for_selector("#jobs-table")
    row = page.locator(f"#jobs-table tr[data-job='{good['job_id']}']")
    assert row.count() == 1
    assert "succeeded" in row.inner_text() and "alice" in row.inner_text() and "1/1" in row.inner_text()
    assert row.locator("td.files").inner_text() == "good.png"

    overview = admin.get("/v1/admin/overview").json
    listing = admin.get("/v1/admin/jobs?per_page=1").json
    assert overview["jobs_total"] == listing["total"] >= 2
    assert f"of {listing['total']}" in page.inner_text("#pager")
    # Queue cards come from Redis, the worker row from the worker's own heartbeats.
    assert page.locator("#stats .stat-label:text('Queue ocr.pages')").count() == 1
    page.wait_for_selector("#workers .dot.on", timeout=60_000)
    assert "cpu" in page.inner_text("#workers") or "cuda" in page.inner_text("#workers")
    throughput = admin.get("/v1/admin/throughput").json["totals"]
    assert throughput["pages_done"] >= 1 and throughput["jobs_finished"] >= 2
    assert page.locator("#chart-throughput canvas").count() >= 1
    assert page.locator("#stages td:text('Detection (CTPN)')").count() == 1
    assert page.errors == []


def test_failed_page_is_listed_with_its_error_and_retried(open_page, keys, admin, finished_jobs):
    bad = finished_jobs["bad"]
    assert bad["status"] == "failed" and bad["pages"][0]["error"]["code"] == "corrupt_file"
    page = open_page(keys["admin"], "/dashboard")
    page.wait_for_selector("#jobs-table")
    page.select_option("#f-status", "failed")
    page.click("#filters button[type=submit]")
    page.wait_for_url(lambda url: url.endswith("/dashboard?status=failed"))
    page.wait_for_function(
        "() => [...document.querySelectorAll('#jobs-table tbody tr')].every(r => r.innerText.includes('failed'))"
    )
    row = page.locator(f"#jobs-table tr[data-job='{bad['job_id']}']")
    assert "corrupt_file" in row.inner_text() and "broken-photo.jpg" in row.inner_text()

    row.locator("a").click()
    page.wait_for_url(f"**/dashboard/jobs/{bad['job_id']}")
    page.wait_for_selector("#pages-table")
    page_row = page.locator("#pages-table tr[data-page='1']")
    assert "failed" in page_row.inner_text() and "corrupt_file" in page_row.inner_text()
    assert "broken-photo.jpg p1" in page_row.inner_text()  # the page's file and its page there
    assert "broken-photo.jpg" in page.inner_text("#job-files-card")

    before = admin.get(f"/v1/admin/jobs/{bad['job_id']}").json
    page.click("#act-retry")
    page.wait_for_selector("#toast.show:text('1 page(s) queued again.')")
    # The page really went back to a worker: it fails again, for the same reason, with a fresh attempt count.
    after = admin.wait_for(bad["job_id"], lambda j: j["status"] == "failed" and j["finished_at"] > before["finished_at"])
    assert after["pages"][0]["attempts"] == 1
    assert after["pages"][0]["error"]["code"] == "corrupt_file"
    assert after["pages"][0]["started_at"] > before["pages"][0]["started_at"]
    page.wait_for_function(
        "() => document.querySelector('#pages-table') && document.querySelector('#pages-table').innerText.includes('failed')",
        timeout=UI_TIMEOUT_MS,
    )


def test_rerun_with_other_options(open_page, keys, admin, finished_jobs):
    good = finished_jobs["good"]
    page = open_page(keys["admin"], f"/dashboard/jobs/{good['job_id']}")
    page.wait_for_selector("#act-rerun")
    page.click("#act-rerun")
    page.select_option("#rerun-form select[name=lang]", "en")
    page.uncheck("#rerun-form input[name=outputs][value=hocr]")
    page.click("#rerun-form button[type=submit]")
    page.wait_for_url(lambda url: "/dashboard/jobs/" in url and good["job_id"] not in url)
    new_id = page.url.rsplit("/", 1)[-1]
    rerun = admin.wait(new_id)
    assert rerun["status"] == "succeeded", rerun
    assert rerun["lang"] == "en" and "hocr" not in rerun["outputs"]
    assert [f["sha256"] for f in rerun["files"]] == [f["sha256"] for f in good["files"]]
    page.wait_for_selector("#job-summary-card .status-succeeded", timeout=UI_TIMEOUT_MS)


def test_cancel_then_delete_from_the_job_page(open_page, keys, alice, admin):
    # Five pages, one at a time on the worker: still running when the button is pressed.
    scan = pdf([text_page([f"page {i}"]) for i in range(5)])
    job_id = alice.submit([(scan, "five.pdf")]).json["job_id"]
    page = open_page(keys["admin"], f"/dashboard/jobs/{job_id}")
    page.on("dialog", lambda dialog: dialog.accept())
    page.wait_for_selector("#act-cancel:not([disabled])")
    page.click("#act-cancel")
    job = admin.wait(job_id)
    assert job["status"] in ("cancelled", "succeeded"), job  # it may have finished first on a fast machine
    page.wait_for_selector("#act-delete")
    page.click("#act-delete")
    page.wait_for_url("**/dashboard")
    assert admin.get(f"/v1/jobs/{job_id}").status_code == 404


def test_job_list_filters_and_pages(open_page, keys, admin, app):
    """Thirty finished jobs with one tag: the list pages through them 25 at a time."""
    from db.models import ApiKey, Job, utcnow

    db = app.extensions["ocr"].db
    with db.session() as s:
        key_id = s.scalar(select(ApiKey.id).where(ApiKey.name == "bob"))
        for _ in range(30):
            s.add(Job(api_key_id=key_id, status="succeeded", outputs="json", job_tag="paging", finished_at=utcnow()))
    page = open_page(keys["admin"], "/dashboard?tag=paging")
    page.wait_for_selector("#jobs-table")
    assert page.input_value("#f-tag") == "paging"
    assert page.locator("#jobs-table tbody tr").count() == 25
    assert "1–25 of 30" in page.inner_text("#pager")
    page.click("#pager button:text('Next')")
    page.wait_for_function("() => document.querySelector('#pager').innerText.includes('26–30 of 30')")
    assert page.locator("#jobs-table tbody tr").count() == 5
    page.select_option("#f-key", label=next(o for o in page.locator("#f-key option").all_inner_texts() if o.startswith("alice")))
    page.click("#filters button[type=submit]")
    page.wait_for_selector("#jobs p.muted:text('No jobs match.')")
