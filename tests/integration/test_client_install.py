"""`pip install '.[client]'` alone gives a working ocrctl, without torch or the server (issue 12, item 8).

A fresh virtualenv gets the client extra from a copy of this checkout (what `git clone` would give,
plus uncommitted files), non-editable and at the locked versions, exactly as a user on another
machine installs it. Its ocrctl then submits a page to the real API (served over HTTP here) and the
real worker of the integration platform, and waits for the text. Creating the virtualenv and
installing takes about 20 s, most of it pip building the project's wheel.
"""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import threading
import tomllib
import uuid
import venv
from pathlib import Path

import pytest

from core.settings import REPO_ROOT
from tests.integration.documents import SENTENCES, png, text_page

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# What the client must never pull: the models, the server and the queue.
HEAVY = {"torch", "numpy", "opencv-python-headless", "pillow", "flask", "sqlalchemy", "celery", "pydantic", "psycopg"}


def checkout_copy(dest: Path) -> Path:
    """pyproject.toml, the lock and the packages setuptools finds, as tracked or new-but-not-ignored
    files: a clean clone's content with this checkout's changes, without var/, training data or
    build leftovers (pip builds in the source tree, which must not be this one)."""
    include = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO_ROOT, capture_output=True, check=True).stdout.decode().split("\0")  # fmt: skip
    for rel in filter(None, listed):
        top = rel.split("/", 1)[0]
        wanted = rel in ("pyproject.toml", "requirements.lock") or ("/" in rel and any(fnmatch.fnmatch(top, p) for p in include))
        if wanted and (REPO_ROOT / rel).is_file():  # a deleted file is still listed until committed
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((REPO_ROOT / rel).read_bytes())
    return dest


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without the test run's PYTHONPATH (the repository) or OCR_* settings, so the
    installed ocrctl can only use what the virtualenv holds."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("OCR_")}
    return {**env, **extra}


@pytest.fixture(scope="module")
def client_venv(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("client-install")
    source = checkout_copy(root / "src")
    venv.create(root / "venv", with_pip=True)
    python = root / "venv" / "bin" / "python"
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q",
         "-c", str(source / "requirements.lock"), f"{source}[client]"],
        cwd=root, env=clean_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return root / "venv"


def installed(venv_dir: Path) -> dict[str, str]:
    out = subprocess.run([str(venv_dir / "bin" / "python"), "-m", "pip", "list", "--format", "json", "--disable-pip-version-check"],
                         env=clean_env(), capture_output=True, text=True, check=True).stdout  # fmt: skip
    return {p["name"].lower().replace("_", "-"): p["version"] for p in json.loads(out)}


def test_the_client_install_has_no_torch_numpy_or_server(client_venv):
    packages = installed(client_venv)
    assert "ocr-platform" in packages
    assert not HEAVY & set(packages), sorted(HEAVY & set(packages))
    # ...and what it does have is at the locked versions.
    lock = dict(line.split("  #", 1)[0].split("==") for line in (REPO_ROOT / "requirements.lock").read_text().splitlines()
                if line and not line.startswith("#"))  # fmt: skip
    assert all(packages[name] == lock[name] for name in ("click", "requests", "tqdm"))


def test_the_installed_ocrctl_starts(client_venv, tmp_path):
    done = subprocess.run([str(client_venv / "bin" / "ocrctl"), "--help"], cwd=tmp_path, env=clean_env(),
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "submit" in done.stdout
    # The code it runs is the installed copy, not this checkout.
    where = subprocess.run([str(client_venv / "bin" / "python"), "-c", "import client; print(client.__file__)"], cwd=tmp_path,
                           env=clean_env(), capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    assert Path(where).is_relative_to(client_venv), where


def test_installed_ocrctl_cannot_make_keys_locally_and_says_so(client_venv, tmp_path):
    """The ocr-admin script comes with the client install, but not the server packages it needs:
    `keys create` with no key is the usual "no API key" error, and --local says why it cannot."""
    ocrctl = str(client_venv / "bin" / "ocrctl")
    plain = subprocess.run(
        [ocrctl, "keys", "create", "--name", "x"], cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=60
    )
    assert plain.returncode == 2 and "no API key" in plain.stderr and "Traceback" not in plain.stderr, plain.stderr
    local = subprocess.run([ocrctl, "keys", "create", "--name", "x", "--local"], cwd=tmp_path, env=clean_env(),
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert local.returncode != 0 and "ocr-admin is not installed here" in local.stderr and "Traceback" not in local.stderr, (
        local.stderr
    )


@pytest.fixture(scope="module")
def http_api(app):
    """The integration platform's API over real HTTP, for a client in another process."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="client-install-api", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


def test_installed_ocrctl_submits_and_waits_for_the_text(client_venv, http_api, keys, alice, tmp_path):
    page = tmp_path / "page.png"
    page.write_bytes(png(text_page([SENTENCES[1], SENTENCES[3]], size=(800, 200))))
    tag = f"client-install-{uuid.uuid4().hex[:8]}"
    done = subprocess.run(
        [str(client_venv / "bin" / "ocrctl"), "submit", str(page), "--wait", "--out", str(tmp_path / "out"), "--tag", tag, "-q"],
        cwd=tmp_path, env=clean_env(OCR_URL=http_api, OCR_API_KEY=keys["alice"]), capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 succeeded" in done.stdout + done.stderr

    # What ocrctl wrote is what the server produced for that job.
    jobs = alice.get(f"/v1/jobs?tag={tag}").json["jobs"]
    assert len(jobs) == 1 and jobs[0]["status"] == "succeeded"
    job_id = jobs[0]["job_id"]
    assert (tmp_path / "out" / "page.txt").read_text() == alice.get(f"/v1/jobs/{job_id}/result.txt").get_data(as_text=True)
    written = json.loads((tmp_path / "out" / "page.json").read_text())
    assert written == alice.get(f"/v1/jobs/{job_id}/result").json
    assert written["pages"][0]["lines"], "the page's text lines were not read"
