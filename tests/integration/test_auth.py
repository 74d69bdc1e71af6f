"""Keys: required, isolated from each other, rate-limited and held to their page quota."""

from __future__ import annotations

import pytest

from tests.integration.conftest import Api
from tests.integration.documents import blank_pdf, png, text_page

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def alices_job(alice):
    job_id = alice.submit([(png(text_page(["Alice only"])), "a.png")], outputs="json,txt").json["job_id"]
    alice.wait(job_id)
    return job_id


def test_requests_without_a_valid_key_are_refused(client):
    for headers in ({}, {"Authorization": "Bearer ocr_not-a-real-key"}, {"X-API-Key": "nope"}):
        answer = client.get("/v1/jobs", headers=headers)
        assert answer.status_code == 401
        assert answer.json["error"] == "unauthorized" and answer.json["message"]


def test_x_api_key_header_works_too(client, keys):
    assert client.get("/v1/jobs", headers={"X-API-Key": keys["alice"]}).status_code == 200


def test_one_key_cannot_see_or_touch_another_keys_job(alices_job, alice, bob, admin):
    for path in ("", "/result", "/result.txt", "/pages/1/image"):
        answer = bob.get(f"/v1/jobs/{alices_job}{path}")
        assert answer.status_code == 404, path
        assert answer.json["error"] == "not_found"
    assert bob.post(f"/v1/jobs/{alices_job}/cancel").status_code == 404
    assert bob.delete(f"/v1/jobs/{alices_job}").status_code == 404
    assert alices_job not in [j["job_id"] for j in bob.get("/v1/jobs?per_page=200").json["jobs"]]
    assert alices_job not in [j["job_id"] for j in bob.get("/v1/jobs?all=true&per_page=200").json["jobs"]]
    # Still there for its owner, and visible to an admin key.
    assert alice.get(f"/v1/jobs/{alices_job}").status_code == 200
    assert admin.get(f"/v1/jobs/{alices_job}").status_code == 200
    assert alices_job in [j["job_id"] for j in admin.get("/v1/jobs?all=true&per_page=200").json["jobs"]]


def test_rate_limit_answers_429_with_retry_after(client, keys):
    limited = Api(client, keys["limited"])  # 3 requests a minute
    statuses = [limited.get("/v1/jobs").status_code for _ in range(4)]
    assert statuses[:3] == [200, 200, 200]
    answer = limited.get("/v1/jobs")
    assert answer.status_code == 429 and answer.json["error"] == "rate_limited"
    assert 1 <= int(answer.headers["Retry-After"]) <= 60
    assert Api(client, keys["bob"]).get("/v1/jobs").status_code == 200  # limits are per key


def test_page_quota(client, keys):
    quota = Api(client, keys["quota"])  # 2 pages in all
    too_big = quota.submit([(blank_pdf(3), "three.pdf")]).json["job_id"]
    job = quota.wait(too_big)
    assert job["status"] == "failed" and job["error"]["code"] == "quota_exceeded"

    fits = quota.submit([(blank_pdf(2), "two.pdf")], outputs="json").json["job_id"]
    assert quota.wait(fits)["status"] == "succeeded"
    assert quota.get("/v1/keys/me").json["pages_used"] == 2

    refused = quota.submit([(blank_pdf(1), "one.pdf")])
    assert refused.status_code == 429 and refused.json["error"] == "quota_exceeded"


def test_admin_manages_keys_over_http(client, admin, bob):
    assert bob.post("/v1/keys", json={"name": "x"}).status_code == 403
    made = admin.post("/v1/keys", json={"name": "carol", "rate_limit": "100/min"})
    assert made.status_code == 201
    carol = Api(client, made.json["key"])
    me = carol.get("/v1/keys/me").json
    assert me["name"] == "carol" and me["rate_limit"] == "100/60s" and me["webhook_secret"]
    assert "key" not in me
    assert made.json["id"] in [k["id"] for k in admin.get("/v1/keys").json["keys"]]

    assert admin.delete(f"/v1/keys/{made.json['id']}").status_code == 204
    assert carol.get("/v1/jobs").status_code == 401
