"""/v1/admin (the dashboard's data and actions) against the real platform: PostgreSQL, Redis, Celery workers."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select

from tests.integration.documents import corrupt_pdf, png, text_page

pytestmark = pytest.mark.integration

ADMIN_GETS = ["/v1/admin/overview", "/v1/admin/throughput", "/v1/admin/stage-times", "/v1/admin/jobs"]


@pytest.fixture(scope="module")
def read_job(alice):
    job_id = alice.submit([(png(text_page(["dashboard figures"])), "figures.png")], job_tag="dash-api").json["job_id"]
    return alice.wait(job_id)


def test_admin_endpoints_need_an_admin_key(client, alice, read_job):
    for path in ADMIN_GETS + [f"/v1/admin/jobs/{read_job['job_id']}"]:
        assert client.get(path).status_code == 401, path
        answer = alice.get(path)
        assert answer.status_code == 403, path
        assert answer.json == {"error": "forbidden", "message": "This needs an admin key."}
    for action in ("retry", "rerun"):
        assert alice.post(f"/v1/admin/jobs/{read_job['job_id']}/{action}").status_code == 403


def test_overview_reads_the_broker_the_rows_and_the_heartbeats(admin, platform, read_job):
    overview = admin.get("/v1/admin/overview").json
    assert overview["broker"]["broker_up"] is True
    assert [q["name"] for q in overview["broker"]["queues"]] == ["ocr.pages", "ocr.jobs", "ocr.finish"]
    assert all(isinstance(q["depth"], int) for q in overview["broker"]["queues"])
    assert overview["jobs_by_status"]["succeeded"] >= 1
    ours = [w for w in overview["workers"] if w["hostname"].startswith(platform.worker.name + "@")]
    assert ours and all(w["online"] for w in ours), overview["workers"]
    assert sum(w["pages_done"] for w in ours) >= 1
    assert any(w["device"].startswith(("cpu", "cuda")) for w in ours)  # "cpu (onnx)" on the ONNX path


def test_oldest_waiting_page_comes_from_the_rows(admin, app, keys):
    """A page row left queued (its message lost, say) shows up as the oldest waiting page, with its age."""
    from db.models import ApiKey, Job, JobFile, Page

    db = app.extensions["ocr"].db
    created = datetime.now(UTC) - timedelta(minutes=7)
    with db.session() as s:
        key_id = s.scalar(select(ApiKey.id).where(ApiKey.name == "bob"))
        job = Job(api_key_id=key_id, status="running", outputs="json", created_at=created, pages_total=1)
        s.add(job)
        s.flush()
        f = JobFile(job_id=job.id, position=0, filename="lost.png", sha256="0" * 64, size_bytes=1, status="ready")
        s.add(f)
        s.flush()
        s.add(Page(job_id=job.id, file_id=f.id, page_number=1, source_page=1, status="queued", attempts=0, created_at=created))
        job_id = job.id
    try:
        oldest = admin.get("/v1/admin/overview").json["oldest_waiting_page"]
        assert oldest["job_id"] == job_id and oldest["page_number"] == 1
        assert 7 * 60 - 5 <= oldest["age_seconds"] <= 7 * 60 + 120
        assert "ocr_oldest_queued_page_age_seconds" in admin.get("/metrics").get_data(as_text=True)
    finally:
        with db.session() as s:
            s.execute(delete(Page).where(Page.job_id == job_id))
            s.execute(delete(JobFile).where(JobFile.job_id == job_id))
            s.execute(delete(Job).where(Job.id == job_id))


def test_throughput_and_stage_times_match_the_rows(admin, app, read_job):
    from db.models import Page

    answer = admin.get("/v1/admin/throughput?minutes=60").json
    assert len(answer["buckets"]) == 60
    since = datetime.fromisoformat(answer["buckets"][0]["minute"].replace("Z", "+00:00"))
    with app.extensions["ocr"].db.session() as s:
        rows = dict(s.execute(select(Page.status, func.count()).where(Page.finished_at >= since).group_by(Page.status)).all())
    assert answer["totals"]["pages_done"] == rows.get("done", 0) >= 1
    assert answer["totals"]["pages_failed"] == rows.get("failed", 0)
    assert sum(b["pages_done"] for b in answer["buckets"]) == answer["totals"]["pages_done"]

    times = admin.get("/v1/admin/stage-times").json
    for stage in ("rasterise", "orientation", "detection", "recognition", "total"):
        spread = times["stages"][stage]
        assert spread["n"] >= 1, stage
        assert 0 <= spread["p50"] <= spread["p95"], stage
    assert times["job_end_to_end"]["n"] >= 1
    # other tests' bad-input jobs end in milliseconds, so no ratio to page times holds in a shared database
    assert 0 < times["job_end_to_end"]["p50"] <= times["job_end_to_end"]["p95"]

    metrics = admin.get("/metrics").get_data(as_text=True)
    assert 'ocr_stage_seconds{quantile="0.5",stage="detection"}' in metrics
    assert "ocr_workers_online{" in metrics
    assert "ocr_pages_per_minute" in metrics and "ocr_job_seconds" in metrics


def test_job_list_filters(admin, alice, keys, read_job):
    job_id = read_job["job_id"]

    def ids(query: str) -> list[str]:
        answer = admin.get("/v1/admin/jobs?" + query)
        assert answer.status_code == 200, answer.json
        return [j["job_id"] for j in answer.json["jobs"]]

    assert job_id in ids("tag=dash-api")
    assert job_id in ids("status=succeeded,failed")
    assert job_id not in ids("status=failed")
    assert ids(f"job_id={job_id[:8]}") == [job_id]
    alice_id = alice.get("/v1/keys/me").json["id"]
    assert job_id in ids(f"key_id={alice_id}")
    assert job_id not in ids(f"key_id={alice_id + 1000}")
    today = read_job["created_at"][:10]
    assert job_id in ids(f"created_after={today}&created_before={today}")
    tomorrow = (datetime.fromisoformat(today) + timedelta(days=1)).date().isoformat()
    assert job_id not in ids(f"created_after={tomorrow}")
    row = next(j for j in admin.get("/v1/admin/jobs?tag=dash-api").json["jobs"] if j["job_id"] == job_id)
    assert row["key"]["name"] == "alice" and row["pages_done"] == 1 and row["seconds"] > 0
    assert admin.get("/v1/admin/jobs?status=bogus").status_code == 400
    assert admin.get("/v1/admin/jobs?created_after=yesterday").status_code == 400
    first, second = (admin.get(f"/v1/admin/jobs?per_page=1&page={n}").json for n in (1, 2))
    assert first["per_page"] == 1 and len(first["jobs"]) == 1 and first["jobs"][0]["job_id"] == ids("")[0]
    assert second["page"] == 2 and len(second["jobs"]) == min(1, first["total"] - 1)
    assert not {j["job_id"] for j in first["jobs"]} & {j["job_id"] for j in second["jobs"]}


def test_job_detail_has_pages_with_worker_and_timings(admin, platform, read_job):
    detail = admin.get(f"/v1/admin/jobs/{read_job['job_id']}").json
    assert detail["key"]["name"] == "alice"
    (page,) = detail["pages"]
    assert page["worker"].startswith(platform.worker.name) or "@" in page["worker"]
    assert page["has_image"] is True and page["attempts"] == 1
    assert {"rasterise", "detection", "recognition", "total"} <= set(page["timings"])
    assert admin.get("/v1/admin/jobs/no-such-job").status_code == 404


def test_retry_refuses_jobs_without_failures(admin, read_job):
    answer = admin.post(f"/v1/admin/jobs/{read_job['job_id']}/retry")
    assert answer.status_code == 409
    assert answer.json["error"] == "conflict"
    assert admin.post("/v1/admin/jobs/no-such-job/retry").status_code == 404


def test_retry_splits_again_a_job_whose_file_could_not_be_read(admin, alice):
    job_id = alice.submit([(corrupt_pdf(), "broken.pdf")]).json["job_id"]
    first = alice.wait(job_id)
    assert first["status"] == "failed" and first["pages_total"] == 0
    assert first["files"][0]["error"]["code"] == "corrupt_file"

    answer = admin.post(f"/v1/admin/jobs/{job_id}/retry")
    assert answer.status_code == 202, answer.json
    assert answer.json == {"job_id": job_id, "pages_requeued": 0, "resplit": True}
    again = alice.wait_for(job_id, lambda j: j["status"] == "failed" and j["finished_at"] > first["finished_at"])
    assert again["files"][0]["error"]["code"] == "corrupt_file"
    assert again["error"]["code"] == "corrupt_file"


def test_rerun_validates_its_options(admin, read_job):
    bad = admin.post(f"/v1/admin/jobs/{read_job['job_id']}/rerun", json={"lang": "klingon"})
    assert bad.status_code == 400 and bad.json["error"] == "invalid_option"
    bad = admin.post(f"/v1/admin/jobs/{read_job['job_id']}/rerun", json={"pages": "3-1"})
    assert bad.status_code == 400
    assert admin.post("/v1/admin/jobs/no-such-job/rerun", json={}).status_code == 404


def test_heartbeats_follow_worker_processes(admin, platform):
    """A worker that stops cleanly removes its rows; one killed with -9 stays listed, as silent."""

    def rows(name: str) -> list[dict]:
        return [w for w in admin.get("/v1/admin/overview").json["workers"] if w["hostname"].startswith(name + "@")]

    def wait(predicate, timeout=60):
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.3)

    env = dict(platform.env, OCR_HEARTBEAT_INTERVAL="1")
    clean = platform.new_worker("hb-clean", env=env, concurrency=1).start()
    wait(lambda: len(rows(clean.name)) == 1)
    assert rows(clean.name)[0]["online"] is True
    clean.stop()
    wait(lambda: rows(clean.name) == [])

    killed = platform.new_worker("hb-killed", env=env, concurrency=1).start()
    wait(lambda: len(rows(killed.name)) == 1)
    killed.kill9()
    # Silent for more than three beats: listed, marked offline, not deleted.
    wait(lambda: rows(killed.name) and rows(killed.name)[0]["online"] is False, timeout=30)
