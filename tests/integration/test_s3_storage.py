"""Jobs with S3 storage, as workers on other machines would share it: against moto's S3 server on loopback.

Its own worker and queue prefix, so it never takes the local-disk worker's messages.
"""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import sys
import uuid

import boto3
import pytest

from core.settings import REPO_ROOT
from tests.integration.conftest import Api
from tests.integration.documents import png, text_page

pytestmark = pytest.mark.integration

S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_platform(platform, keys, monkeypatch_module):
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    bucket = f"ocr-{uuid.uuid4().hex[:8]}"
    for name, value in S3_CREDENTIALS.items():
        monkeypatch_module.setenv(name, value)
    env = (
        platform.env
        | S3_CREDENTIALS
        | {
            "OCR_STORAGE_URL": f"s3://{bucket}/ocr",
            "OCR_S3_ENDPOINT_URL": endpoint,
            "OCR_BROKER_KEY_PREFIX": platform.env["OCR_BROKER_KEY_PREFIX"] + "s3:",
        }
    )
    init = subprocess.run([sys.executable, "-m", "api.admin", "storage", "init"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True)  # fmt: skip
    assert init.returncode == 0, init.stderr
    worker = platform.new_worker("s3", env=env, concurrency=1).start()

    from api.app import create_app

    settings = dataclasses.replace(
        platform.settings,
        storage_url=env["OCR_STORAGE_URL"],
        s3_endpoint_url=endpoint,
        broker_key_prefix=env["OCR_BROKER_KEY_PREFIX"],
    )
    s3 = boto3.client("s3", endpoint_url=endpoint)
    try:
        yield {"app": create_app(settings), "s3": s3, "bucket": bucket}
    finally:
        worker.stop()
        server.stop()


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def _objects(s3, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def test_a_job_runs_with_s3_storage(s3_platform, keys):
    api = Api(s3_platform["app"].test_client(), keys["alice"])
    s3, bucket = s3_platform["s3"], s3_platform["bucket"]
    upload = png(text_page(["Stored in a bucket"]))
    first = api.submit([(upload, "s3.png")], outputs="txt,pdf").json["job_id"]
    second = api.submit([(upload, "again.png")], outputs="txt").json["job_id"]
    assert api.wait(first)["status"] == "succeeded"
    assert api.wait(second)["status"] == "succeeded"

    sha = api.job(first)["files"][0]["sha256"]
    stored = _objects(s3, bucket)
    assert [k for k in stored if k.startswith("ocr/inputs/")] == [f"ocr/inputs/{sha[:2]}/{sha}"]  # once, by content
    assert f"ocr/jobs/{first}/pages/00001.png" in stored
    assert {f"ocr/jobs/{first}/result.txt", f"ocr/jobs/{first}/result.pdf"} <= set(stored)
    assert api.get(f"/v1/jobs/{first}/result.pdf").data.startswith(b"%PDF")

    assert api.delete(f"/v1/jobs/{first}").status_code == 204
    stored = _objects(s3, bucket)
    assert not any(k.startswith(f"ocr/jobs/{first}/") for k in stored)
    assert f"ocr/inputs/{sha[:2]}/{sha}" in stored  # still used by the second job
    assert api.delete(f"/v1/jobs/{second}").status_code == 204
    assert not any(k.startswith("ocr/inputs/") for k in _objects(s3, bucket))
