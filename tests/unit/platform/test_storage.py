"""storage/: the same contract on local disk and on S3 (moto's S3 server on a loopback port)."""

from __future__ import annotations

import socket
import uuid

import pytest

from core.errors import InvalidOption, NotFound, StorageUnavailable
from storage import input_key, open_storage, output_key, page_image_key
from storage.local import LocalStorage
from storage.s3 import S3Storage


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path, monkeypatch):
    if request.param == "local":
        return LocalStorage(tmp_path / "store")
    endpoint = request.getfixturevalue("s3_endpoint")
    for name, value in {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    backend = open_storage(f"s3://b-{uuid.uuid4().hex[:8]}/some/prefix", endpoint)
    assert backend.create_bucket() is True
    return backend


def test_put_get_exists_delete(storage):
    key = page_image_key("job-1", 3)
    assert key == "jobs/job-1/pages/00003.png"
    assert not storage.exists(key)
    storage.put(key, b"\x89PNG data")
    assert storage.exists(key) and storage.get(key) == b"\x89PNG data"
    storage.put(key, b"replaced")
    assert storage.get(key) == b"replaced"
    storage.delete(key)
    storage.delete(key)  # missing is fine
    with pytest.raises(NotFound):
        storage.get(key)


def test_content_addressed_puts_happen_once(storage):
    key = input_key("ab" + "0" * 62)
    assert key.startswith("inputs/ab/")
    assert storage.put_if_absent(key, b"first") is True
    assert storage.put_if_absent(key, b"second") is False
    assert storage.get(key) == b"first"


def test_delete_prefix_removes_one_jobs_files_only(storage):
    for job in ("j1", "j2"):
        storage.put(page_image_key(job, 1), b"img")
        storage.put(output_key(job, "txt"), b"text")
    assert storage.delete_prefix("jobs/j1/") == 2
    assert not storage.exists(output_key("j1", "txt"))
    assert storage.exists(output_key("j2", "txt")) and storage.exists(page_image_key("j2", 1))
    storage.check()


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs", "jobs/../../x", "a//b", ""])
def test_keys_cannot_leave_the_root(tmp_path, key):
    with pytest.raises(InvalidOption):
        LocalStorage(tmp_path).put(key, b"x")


def test_storage_urls(tmp_path):
    assert isinstance(open_storage(f"file://{tmp_path}"), LocalStorage)
    s3 = open_storage("s3://bucket/a/b", "http://127.0.0.1:9")
    assert isinstance(s3, S3Storage) and (s3.bucket, s3.prefix) == ("bucket", "a/b/")
    for bad in ("ftp://x", "s3:///nobucket"):
        with pytest.raises(InvalidOption):
            open_storage(bad)


def test_an_unreachable_bucket_is_storage_unavailable(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    s3 = S3Storage("bucket", endpoint_url=f"http://127.0.0.1:{_free_port()}")
    s3.client.meta.config.retries = {"max_attempts": 1}
    with pytest.raises(StorageUnavailable):
        s3.get("inputs/aa/x")
    with pytest.raises(StorageUnavailable):
        s3.check()
