"""client.http.OcrClient against a real HTTP server on loopback that speaks the /v1/jobs contract."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from client.http import ApiError, OcrClient, WaitTimeout, parse_retry_after
from tests.unit.client_api_double import ApiDouble


@pytest.fixture
def api():
    double = ApiDouble()
    url = double.start()
    yield double, url
    double.stop()


class Sleeps(list):
    """Records the pauses the client asks for instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_client(url: str, key: str = "test-key", **kw) -> tuple[OcrClient, Sleeps]:
    sleeps = Sleeps()
    return OcrClient(url, key, sleep=sleeps, **kw), sleeps


def test_submit_sends_files_options_and_key(api):
    double, url = api
    client, _ = make_client(url)
    view = client.submit(
        [("a.png", b"alpha"), ("b.pdf", b"beta")],
        lang="zh",
        pages="1-3,5",
        detect_orientation=False,
        outputs=["json", "txt", "pdf"],
        client_request_token="tok-1",
        job_tag="batch-7",
        callback_url="http://127.0.0.1:9/hook",
    )
    assert view.status == "queued"
    job = double.jobs[view.job_id]
    assert job.files == [("a.png", b"alpha"), ("b.pdf", b"beta")]
    assert job.form == {
        "lang": "zh",
        "pages": "1-3,5",
        "detect_orientation": "false",
        "outputs": "json,txt,pdf",
        "client_request_token": "tok-1",
        "job_tag": "batch-7",
        "callback_url": "http://127.0.0.1:9/hook",
    }
    assert double.requests[0]["headers"]["Authorization"] == "Bearer test-key"


def test_unset_options_are_left_to_the_server(api):
    double, url = api
    client, _ = make_client(url)
    view = client.submit([("a.png", b"alpha")])
    assert double.jobs[view.job_id].form == {}


def test_same_token_answers_the_same_job(api):
    double, url = api
    client, _ = make_client(url)
    first = client.submit([("a.png", b"alpha")], client_request_token="t")
    again = client.submit([("a.png", b"alpha")], client_request_token="t")
    other = client.submit([("a.png", b"alpha")], client_request_token="u")
    assert first.job_id == again.job_id != other.job_id
    assert len(double.jobs) == 2


def test_wait_honours_retry_after(api):
    double, url = api
    double.polls_to_finish, double.retry_after = 3, 2
    client, sleeps = make_client(url)
    submitted = client.submit([("a.png", b"alpha")])
    assert submitted.retry_after == 2
    seen = []
    final = client.wait(submitted.job_id, first_delay=submitted.retry_after, on_update=lambda v: seen.append(v.status))
    assert final.status == "succeeded" and final.body["pages_done"] == 1
    assert seen == ["running", "running", "succeeded"]
    # Never sooner than the server asked, even while our own backoff is still below it.
    assert sleeps == [2, 2, 2]


def test_wait_backs_off_up_to_its_cap_without_retry_after(api):
    double, url = api
    double.polls_to_finish, double.retry_after = 6, None
    client, sleeps = make_client(url)
    submitted = client.submit([("a.png", b"alpha")])
    assert submitted.retry_after is None
    client.wait(submitted.job_id, poll_min=1.0, poll_max=3.0)
    assert sleeps == [1.0, 1.5, 2.25, 3.0, 3.0, 3.0]


def test_wait_gives_up_after_its_timeout(api):
    double, url = api
    double.polls_to_finish = 10**6
    client = OcrClient(url, "test-key")
    job_id = client.submit([("a.png", b"alpha")]).job_id
    with pytest.raises(WaitTimeout, match="did not finish within 0.3 s"):
        client.wait(job_id, poll_min=0.05, poll_max=0.05, timeout=0.3)


def test_idempotent_requests_are_retried_on_429_and_503(api):
    double, url = api
    client, sleeps = make_client(url)
    job_id = client.submit([("a.png", b"alpha")]).job_id
    double.fail_next = [(429, "3"), 503]
    assert client.job(job_id).job_id == job_id
    assert sleeps == [3.0, 0.0]
    double.fail_next = [429]
    assert client.submit([("a.png", b"alpha")], client_request_token="t").job_id


def test_submit_without_token_is_sent_once(api):
    double, url = api
    client, sleeps = make_client(url)
    double.fail_next = [503]
    with pytest.raises(ApiError) as err:
        client.submit([("a.png", b"alpha")])
    assert err.value.status == 503 and err.value.retryable
    assert [r["method"] for r in double.requests] == ["POST"] and sleeps == []


def test_retries_are_bounded(api):
    double, url = api
    client, sleeps = make_client(url, max_retries=2)
    double.fail_next = [503, 503, 503, 503]
    with pytest.raises(ApiError) as err:
        client.job("any")
    assert err.value.status == 503
    assert len(double.requests) == 3 and len(sleeps) == 2


def test_a_long_retry_after_is_reported_not_slept_on(api):
    double, url = api
    client, sleeps = make_client(url, max_retry_after=60)
    double.fail_next = [(429, "3600")]
    with pytest.raises(ApiError) as err:
        client.job("any")
    assert err.value.code == "rate_limited" and err.value.retry_after == 3600
    assert sleeps == []


def test_errors_carry_the_servers_code_and_message(api):
    _, url = api
    client, _ = make_client(url)
    with pytest.raises(ApiError) as err:
        client.job("nope")
    assert (err.value.status, err.value.code, err.value.args[0]) == (404, "not_found", "No such resource.")
    assert not err.value.retryable
    assert str(err.value) == "No such resource. (HTTP 404, not_found)"


def test_a_wrong_key_is_unauthorized(api):
    _, url = api
    client, _ = make_client(url, key="wrong")
    with pytest.raises(ApiError) as err:
        client.list_jobs()
    assert (err.value.status, err.value.code) == (401, "unauthorized")


def test_one_key_cannot_see_another_keys_job(api):
    double, url = api
    double.keys.add("other-key")
    mine, _ = make_client(url)
    theirs, _ = make_client(url, key="other-key")
    job_id = mine.submit([("a.png", b"alpha")]).job_id
    with pytest.raises(ApiError) as err:
        theirs.job(job_id)
    assert err.value.status == 404


def test_an_unreachable_server_is_a_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client, sleeps = make_client(f"http://127.0.0.1:{port}", max_retries=2)
    with pytest.raises(ApiError) as err:
        client.job("x")
    assert err.value.code == "unreachable" and f"127.0.0.1:{port}" in str(err.value)
    assert sleeps == [0.5, 1.0]  # exponential backoff between the attempts


def test_results_in_every_format(api):
    double, url = api
    client, _ = make_client(url)
    job_id = client.submit([("a.png", "中文 and English".encode())]).job_id
    client.wait(job_id)
    assert client.result(job_id, "txt").decode() == "中文 and English"
    assert client.result(job_id, "pdf").startswith(b"%PDF-")
    assert b"ocr_page" in client.result(job_id, "hocr")
    assert b'"page_number": 1' in client.result(job_id, "json", pages="1")
    assert double.requests[-1]["path"] == f"/v1/jobs/{job_id}/result" and double.requests[-1]["query"] == "pages=1"
    with pytest.raises(ValueError, match="unknown result format"):
        client.result(job_id, "docx")


def test_results_of_an_unfinished_job_are_a_conflict(api):
    double, url = api
    double.polls_to_finish = 5
    client, _ = make_client(url)
    job_id = client.submit([("a.png", b"alpha")]).job_id
    with pytest.raises(ApiError) as err:
        client.result(job_id, "txt")
    assert (err.value.status, err.value.code) == (409, "conflict")


def test_cancel_then_delete(api):
    double, url = api
    double.polls_to_finish = 5
    client, _ = make_client(url)
    job_id = client.submit([("a.png", b"alpha")]).job_id
    assert client.cancel(job_id).status == "cancelled"
    with pytest.raises(ApiError) as err:
        client.cancel(job_id)
    assert err.value.code == "conflict"
    client.delete(job_id)
    with pytest.raises(ApiError) as err:
        client.job(job_id)
    assert err.value.status == 404


def test_list_filters_and_iterates_every_page(api):
    _, url = api
    client, _ = make_client(url)
    ids = [client.submit([(f"{n}.png", b"x")], job_tag="even" if n % 2 == 0 else "odd").job_id for n in range(5)]
    assert [j["job_id"] for j in client.list_jobs(tag="even")["jobs"]] == ids[0::2]
    assert client.list_jobs(status="succeeded")["jobs"] == []
    assert [j["job_id"] for j in client.iter_jobs(per_page=2)] == ids


def test_parse_retry_after():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
