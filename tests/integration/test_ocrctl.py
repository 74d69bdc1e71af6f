"""ocrctl against the real API over HTTP (a real worker reads the pages): default outputs, file names
in ``list`` and ``status``, and a progress bar that counts pages."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from tqdm import tqdm

from client.bulk import BulkSubmit, SubmitOptions
from client.cli import Progress, main
from client.http import OcrClient
from client.inputs import find_inputs
from core.formats import DEFAULT_OUTPUTS
from tests.integration.documents import not_an_image, pdf, text_page, truncated_jpeg

pytestmark = pytest.mark.integration


def small_pdf(lines: list[str]) -> bytes:
    return pdf([text_page([line], size=(500, 120)) for line in lines])


@pytest.fixture(scope="module")
def ocrctl(live_server, keys):
    """Runs ocrctl in-process against the live API with alice's key; returns (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        env = {"OCR_URL": live_server, "OCR_API_KEY": keys["alice"]}
        result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    return run


@pytest.fixture(scope="module")
def submitted(ocrctl, tmp_path_factory):
    """A two-page PDF sent with `ocrctl submit --wait --out` and no --format."""
    root = tmp_path_factory.mktemp("ocrctl-in")
    source = root / "report.pdf"
    source.write_bytes(small_pdf(["Quarterly report", "Second page"]))
    out = root / "out"
    code, stdout, stderr = ocrctl("submit", str(source), "--wait", "--out", str(out), "--tag", "ocrctl-it")
    assert code == 0, stderr
    code, stdout, stderr = ocrctl("list", "--tag", "ocrctl-it")
    assert code == 0, stderr
    job_id = stdout.splitlines()[1].split("\t")[0]
    return {"job_id": job_id, "out": out, "stderr": stderr}


def test_submit_asks_for_the_servers_default_outputs(submitted, ocrctl, tmp_path):
    out = submitted["out"]
    assert sorted(p.name for p in out.iterdir()) == ["report.json", "report.txt"]
    code, stdout, _ = ocrctl("status", submitted["job_id"], "--json")
    assert code == 0 and json.loads(stdout)["outputs"] == list(DEFAULT_OUTPUTS)
    # So any of them can be fetched afterwards, although only txt and json were written.
    target = tmp_path / "report.hocr"
    code, _, stderr = ocrctl("result", submitted["job_id"], "--format", "hocr", "-o", str(target))
    assert code == 0, stderr
    assert target.read_bytes().count(b'class="ocr_page"') == 2
    target = tmp_path / "report.pdf"
    code, _, stderr = ocrctl("result", submitted["job_id"], "--format", "pdf", "-o", str(target))
    assert code == 0 and target.read_bytes().startswith(b"%PDF-"), stderr


def test_list_has_a_header_and_the_file_names(submitted, ocrctl):
    code, stdout, _ = ocrctl("list", "--tag", "ocrctl-it")
    header, *rows = stdout.splitlines()
    assert code == 0 and header == "JOB_ID\tSTATUS\tPAGES\tTAG\tCREATED\tFILES"
    (row,) = rows
    job_id, status, pages, tag, created, files = row.split("\t")
    assert (job_id, status, pages, tag, files) == (submitted["job_id"], "succeeded", "2/2", "ocrctl-it", "report.pdf")
    assert created.endswith("Z")


def test_status_names_the_files_and_their_pages(submitted, ocrctl):
    code, stdout, _ = ocrctl("status", submitted["job_id"])
    assert code == 0
    assert stdout.splitlines() == [
        f"{submitted['job_id']}  succeeded  pages 2/2 done, 0 failed",
        "  #1 report.pdf: ready; pdf, 2 page(s); job page(s) 1-2",
    ]


def test_status_names_a_refused_file_and_a_failed_page_by_file(alice, ocrctl):
    # A truncated JPEG passes the upload check and fails when its page is decoded.
    files = [(small_pdf(["Kept"]), "kept.pdf"), (not_an_image(), "notes.png"), (truncated_jpeg(), "photo.jpg")]
    answer = alice.submit(files)
    assert answer.status_code == 202, answer.json
    job = alice.wait(answer.json["job_id"])
    code, stdout, _ = ocrctl("status", job["job_id"])
    lines = stdout.splitlines()
    assert code == 0 and lines[0] == f"{job['job_id']}  partial_success  pages 1/2 done, 1 failed", stdout
    assert lines[1] == "  #1 kept.pdf: ready; pdf, 1 page(s); job page(s) 1"
    assert lines[2].startswith("  #2 notes.png: rejected; unsupported_format: The file is not a supported image")
    assert lines[3] == "  #3 photo.jpg: ready; jpeg, 1 page(s); job page(s) 2"
    assert lines[4].startswith("  page 2 (photo.jpg p1): failed corrupt_file: ")


def test_the_progress_bar_counts_pages(live_server, keys, tmp_path):
    """One three-page PDF: the bar's total becomes 3 pages once the job is split, and it ends at 3/3."""
    source = tmp_path / "three.pdf"
    source.write_bytes(small_pdf(["One", "Two", "Three"]))
    stream = io.StringIO()
    bar = tqdm(file=stream, disable=False, mininterval=0)
    progress = Progress(bar, files=1, in_pages=True)
    seen: list[tuple[int, int | None]] = []

    def on_progress(item, view):
        progress.update(item, view)
        seen.append((bar.n, bar.total))

    client = OcrClient(live_server, keys["alice"])
    options = SubmitOptions(wait=True, poll_max=0.5)
    (outcome,) = BulkSubmit(client, options, on_done=progress.done, on_progress=on_progress).run(find_inputs([source]), 1)
    bar.close()
    assert outcome.status == "succeeded", outcome
    assert seen[0] == (0, None)  # just submitted: no pages known yet
    assert seen[-1] == (3, 3)
    assert all(total in (None, 3) for _, total in seen)
    assert [n for n, _ in seen] == sorted(n for n, _ in seen)  # never goes back
    text = stream.getvalue()
    assert "3/3" in text and "page" in text and "files=1/1" in text


def test_a_file_refused_by_the_server_is_reported_and_fails_the_run(ocrctl, tmp_path):
    notes = Path(tmp_path / "notes.png")
    notes.write_bytes(b"not an image at all")
    code, _, stderr = ocrctl("submit", str(notes), "--wait")
    assert code == 1
    assert "unsupported_format" in stderr and "notes.png" in stderr
