"""ocrctl against a real HTTP server on loopback that speaks the /v1/jobs contract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from client.cli import main
from client.inputs import find_inputs, request_token
from core.settings import REPO_ROOT, get_settings
from tests.unit.client_api_double import ApiDouble


@pytest.fixture
def api():
    double = ApiDouble()
    url = double.start()
    yield double, url
    double.stop()


@pytest.fixture
def ocrctl(api, tmp_path, monkeypatch):
    """Runs ocrctl in-process with the double's URL and key; returns (exit code, stdout, stderr)."""
    _, url = api
    monkeypatch.chdir(tmp_path)

    def run(*args: str, key: str | None = "test-key"):
        env = {"OCR_URL": url, "OCR_API_KEY": key}
        result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    return run


@pytest.fixture
def scans(tmp_path) -> Path:
    """A directory as a user would have it: documents in sub-folders, and things to leave alone."""
    root = tmp_path / "scans"
    (root / "sub").mkdir(parents=True)
    (root / ".cache").mkdir()
    (root / "a.png").write_bytes("第一页 alpha".encode())
    (root / "sub" / "b.PDF").write_bytes(b"beta")
    (root / "notes.txt").write_bytes(b"not a document")
    (root / ".cache" / "c.png").write_bytes(b"hidden")
    return root


def test_submit_a_directory_wait_and_write_results(ocrctl, api, scans, tmp_path):
    double, _ = api
    code, stdout, stderr = ocrctl("submit", str(scans), "--wait", "--out", str(tmp_path / "out"))
    assert code == 0, stderr
    out = tmp_path / "out"
    assert (out / "a.txt").read_text() == "第一页 alpha"
    assert (out / "sub" / "b.txt").read_text() == "beta"
    assert json.loads((out / "a.json").read_text())["pages"][0]["page_number"] == 1
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "a.json",
        "a.txt",
        "sub/b.json",
        "sub/b.txt",
    ]
    assert sorted(name for job in double.jobs.values() for name, _ in job.files) == ["a.png", "b.PDF"]
    assert "2 file(s): 2 succeeded" in stderr
    assert stdout == ""


def test_running_the_same_bulk_submit_again_makes_no_new_jobs(ocrctl, api, scans, tmp_path):
    double, _ = api
    for _ in range(2):
        code, _, stderr = ocrctl("submit", str(scans), "--wait", "--out", str(tmp_path / "out"))
        assert code == 0, stderr
    assert len(double.jobs) == 2
    # Other options are another request: new jobs.
    code, _, _ = ocrctl("submit", str(scans), "--lang", "en")
    assert code == 0 and len(double.jobs) == 4


def test_failed_and_partial_jobs_are_reported_and_fail_the_run(ocrctl, api, tmp_path):
    for name, content in [("good.png", b"fine"), ("bad.png", b"FAIL this"), ("half.pdf", b"PARTIAL text")]:
        (tmp_path / name).write_bytes(content)
    files = [str(tmp_path / n) for n in ("good.png", "bad.png", "half.pdf")]
    code, _, stderr = ocrctl("submit", *files, "--wait", "--out", "out", "--concurrency", "3")
    assert code == 1
    assert sorted(p.name for p in Path("out").iterdir()) == ["good.json", "good.txt", "half.json", "half.txt"]
    assert "bad.png: failed: corrupt_file: The file is damaged or truncated." in stderr
    assert "half.pdf: 1 of 2 page(s) failed" in stderr
    assert "3 file(s): 1 succeeded, 1 partial_success, 1 failed" in stderr


def test_extra_formats(ocrctl, tmp_path):
    (tmp_path / "a.png").write_bytes(b"alpha")
    code, _, stderr = ocrctl("submit", "a.png", "--wait", "--out", "out", "--format", "pdf", "--format", "hocr")
    assert code == 0, stderr
    assert sorted(p.name for p in Path("out").iterdir()) == ["a.hocr", "a.json", "a.pdf", "a.txt"]
    assert Path("out/a.pdf").read_bytes().startswith(b"%PDF-")


def test_options_reach_the_server(ocrctl, api, tmp_path):
    double, _ = api
    (tmp_path / "a.pdf").write_bytes(b"alpha")
    code, _, _ = ocrctl(
        "submit", "a.pdf", "--lang", "zh", "--pages", "2-3", "--tag", "box-12", "--no-detect-orientation", "--format", "pdf"
    )
    assert code == 0
    (job,) = double.jobs.values()
    # --format only says what to write: no outputs are sent (the server's default, every format), and
    # the token leaves them out, so writing another format later is the same job.
    options = {
        "lang": "zh",
        "pages": "2-3",
        "detect_orientation": False,
        "job_tag": "box-12",
        "callback_url": None,
    }
    assert job.form == {
        "lang": "zh",
        "pages": "2-3",
        "detect_orientation": "false",
        "job_tag": "box-12",
        "client_request_token": request_token(b"alpha", options),
    }


def test_submit_without_wait_prints_one_line_per_job(ocrctl, api, scans):
    double, _ = api
    code, stdout, _ = ocrctl("submit", str(scans))
    assert code == 0
    lines = [line.split("\t") for line in stdout.splitlines()]
    assert [(job_id in double.jobs, status, Path(path).name) for job_id, status, path in lines] == [
        (True, "queued", "a.png"),
        (True, "queued", "b.PDF"),
    ]


def test_wait_without_out_prints_the_text(ocrctl, tmp_path):
    (tmp_path / "a.png").write_bytes("识别 text".encode())
    code, stdout, _ = ocrctl("submit", "a.png", "--wait")
    assert (code, stdout) == (0, "识别 text\n")
    (tmp_path / "b.png").write_bytes(b"second")
    code, stdout, _ = ocrctl("submit", "a.png", "b.png", "--wait")
    assert (code, stdout) == (0, "==> a.png <==\n识别 text\n==> b.png <==\nsecond\n")


def test_an_unreachable_server_fails_every_file_without_a_traceback(ocrctl, tmp_path):
    (tmp_path / "a.png").write_bytes(b"alpha")
    result = CliRunner().invoke(
        main, ["--url", "http://127.0.0.1:9", "--retries", "1", "submit", "a.png"], env={"OCR_API_KEY": "k"}
    )
    assert result.exit_code == 1
    assert "a.png: error: cannot reach" in result.stderr
    assert "cannot reach http://127.0.0.1:9" in result.stderr and "Traceback" not in result.stderr


def test_usage_errors(ocrctl, tmp_path):
    (tmp_path / "a.png").write_bytes(b"alpha")
    (tmp_path / "empty").mkdir()
    code, _, stderr = ocrctl("submit", "a.png", "--out", "out")
    assert code == 2 and "--out needs --wait" in stderr
    code, _, stderr = ocrctl("submit", "missing.pdf")
    assert code == 2 and "missing.pdf" in stderr
    code, _, stderr = ocrctl("submit", "empty")
    assert code == 2 and "no images or PDFs found" in stderr


def test_status_result_cancel_delete_and_list(ocrctl, api, tmp_path):
    double, _ = api
    double.polls_to_finish = 2
    (tmp_path / "a.png").write_bytes(b"alpha")
    code, stdout, _ = ocrctl("submit", "a.png", "--tag", "t1")
    job_id = stdout.split("\t")[0]

    code, stdout, _ = ocrctl("status", job_id)
    assert (code, stdout) == (0, f"{job_id}  running  pages 0/1 done, 0 failed\n  #1 a.png: ready\n")
    code, stdout, _ = ocrctl("status", job_id, "--json")
    assert json.loads(stdout)["status"] == "succeeded"

    code, stdout, _ = ocrctl("result", job_id)
    assert (code, stdout) == (0, "alpha")
    code, _, stderr = ocrctl("result", job_id, "--format", "pdf", "-o", "r.pdf")
    assert code == 0 and Path("r.pdf").read_bytes().startswith(b"%PDF-")

    code, stdout, _ = ocrctl("list", "--tag", "t1")
    header, row = stdout.splitlines()
    assert header == "JOB_ID\tSTATUS\tPAGES\tTAG\tCREATED\tFILES"
    assert row.startswith(f"{job_id}\tsucceeded\t1/1\tt1\t") and row.endswith("\ta.png")
    code, stdout, _ = ocrctl("list", "--status", "failed", "--json")
    assert json.loads(stdout)["jobs"] == []

    code, _, stderr = ocrctl("cancel", job_id)
    assert code == 1 and "The job has already ended. (HTTP 409, conflict)" in stderr
    code, stdout, _ = ocrctl("delete", job_id)
    assert (code, stdout) == (0, f"{job_id}  deleted\n")
    code, _, stderr = ocrctl("status", job_id)
    assert code == 1 and "not_found" in stderr


def test_cancel_a_running_job(ocrctl, api, tmp_path):
    double, _ = api
    double.polls_to_finish = 10
    (tmp_path / "a.png").write_bytes(b"alpha")
    _, stdout, _ = ocrctl("submit", "a.png")
    job_id = stdout.split("\t")[0]
    assert ocrctl("cancel", job_id)[:2] == (0, f"{job_id}  cancelled\n")


@pytest.fixture
def isolated_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("OCR_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield tmp_path / "data"
    get_settings.cache_clear()


def test_the_key_make_run_saved_is_used(ocrctl, tmp_path, isolated_data_dir):
    isolated_data_dir.mkdir()
    (tmp_path / "a.png").write_bytes(b"alpha")
    code, _, stderr = ocrctl("submit", "a.png", key=None)
    assert code == 2 and "no API key" in stderr
    (isolated_data_dir / "api_key").write_text("test-key\n")
    code, _, stderr = ocrctl("submit", "a.png", key=None)
    assert code == 0, stderr


def test_a_wrong_key_is_refused_clearly(ocrctl):
    code, _, stderr = ocrctl("list", key="nope")
    assert code == 1 and stderr == "ocrctl: A valid API key is required. (HTTP 401, unauthorized)\n"


def test_the_installed_command_runs_as_a_process(api, tmp_path):
    _, url = api
    (tmp_path / "a.png").write_bytes("中文".encode())
    proc = subprocess.run(
        [sys.executable, "-m", "client.cli", "--url", url, "--api-key", "test-key", "submit", "a.png", "--wait"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT)},
    )
    assert (proc.returncode, proc.stdout) == (0, "中文\n"), proc.stderr


def test_find_inputs_walks_directories_and_keeps_names_apart(tmp_path, scans):
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    (tmp_path / "x" / "same.png").write_bytes(b"1")
    (tmp_path / "y" / "same.png").write_bytes(b"2")
    (tmp_path / "odd.name").write_bytes(b"3")  # named explicitly: sent whatever its suffix
    inputs = find_inputs(
        [scans, tmp_path / "x" / "same.png", tmp_path / "y" / "same.png", tmp_path / "odd.name", scans / "a.png"]
    )
    assert [(i.path.relative_to(tmp_path).as_posix(), i.out_name) for i in inputs] == [
        ("scans/a.png", "a"),
        ("scans/sub/b.PDF", "sub/b"),
        ("x/same.png", "same"),
        ("y/same.png", "same-2"),
        ("odd.name", "odd"),
    ]


def test_request_token_depends_on_bytes_and_options_only():
    options = {"lang": "zh", "pages": None}
    token = request_token(b"abc", options)
    assert token == request_token(b"abc", {"pages": None, "lang": "zh"})
    assert token != request_token(b"abd", options)
    assert token != request_token(b"abc", {"lang": "en", "pages": None})
    assert len(token) == 64


def test_keys_create_over_http_with_an_admin_key(ocrctl, api):
    double, _ = api
    code, stdout, stderr = ocrctl("keys", "create", "--name", "alice", "--rate-limit", "60/min", key="admin-key")
    assert code == 0, stderr
    new_key = stdout.strip()
    assert new_key.startswith("ocr_") and new_key in double.keys and new_key not in double.admin_keys
    assert "name: alice" in stderr and "rate_limit: 60/min" in stderr
    # The new key works at once, and is not an admin key.
    assert ocrctl("list", key=new_key)[0] == 0
    code, _, stderr = ocrctl("keys", "create", "--name", "mallory", key=new_key)
    assert code == 1 and "forbidden" in stderr
    code, stdout, _ = ocrctl("keys", "list", key="admin-key")
    assert code == 0 and "\tadmin\t" in stdout


def test_keys_create_local_runs_ocr_admin_against_the_database(tmp_path):
    """The same code path as `ocr-admin keys create`, on a fresh SQLite database migrated by ocr-admin."""
    admin = Path(sys.executable).with_name("ocr-admin")
    if not admin.exists():
        pytest.fail(f"{admin} is missing: run `make setup` (pip install -e .) first")
    env = {"PATH": "/usr/bin:/bin", "OCR_DATABASE_URL": f"sqlite:///{tmp_path / 'ocr.db'}", "OCR_DATA_DIR": str(tmp_path)}
    subprocess.run([str(admin), "db", "upgrade"], env=env, check=True, capture_output=True, timeout=120)
    proc = subprocess.run(
        [sys.executable, "-m", "client.cli", "keys", "create", "--local", "--name", "ops", "--admin"],
        env=env | {"PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().startswith("ocr_") and len(proc.stdout.strip()) > 30
    assert "is_admin: True" in proc.stderr
    listed = subprocess.run([str(admin), "keys", "list"], env=env, capture_output=True, text=True, timeout=120)
    assert "admin" in listed.stdout and "ops" in listed.stdout
