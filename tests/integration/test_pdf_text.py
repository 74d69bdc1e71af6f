"""pdf_text=auto through the real API, broker and workers: a born-digital page is read from its own
text (no rendering, no models), a scanned page of the same PDF is OCR'd, and the searchable PDF is the
upload itself with a text layer on the scanned page only."""

from __future__ import annotations

import io
import subprocess

import pikepdf
import pytest
from PIL import Image

from tests.integration.documents import pdf, text_page
from tests.unit import pdf_samples

pytestmark = pytest.mark.integration

BORN_DIGITAL_LINES = ["Quarterly report 2024", "Revenue grew by 12 percent", "Costs were flat"]


def mixed_pdf() -> bytes:
    """Page 1 born-digital (Helvetica text and a grey box), page 2 a scan of one printed line."""
    with (
        pikepdf.open(io.BytesIO(pdf_samples.born_digital(BORN_DIGITAL_LINES))) as doc,
        pikepdf.open(io.BytesIO(pdf([text_page(["The quick brown fox jumps"])]))) as scan,
    ):
        doc.pages.extend(scan.pages)
        out = io.BytesIO()
        doc.save(out)
        return out.getvalue()


def pdftotext(data: bytes, tmp_path, *args: str) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", *args, str(path), "-"], capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def auto_job(alice):
    source = mixed_pdf()
    answer = alice.submit([(source, "report.pdf")], pdf_text="auto", outputs="json,txt,pdf")
    assert answer.status_code == 202, answer.json
    return source, alice.wait(answer.json["job_id"])


def test_born_digital_pages_are_read_from_their_text_and_scans_by_ocr(auto_job, alice):
    _, job = auto_job
    assert job["status"] == "succeeded", job
    assert job["pdf_text"] == "auto"
    result = alice.get(f"/v1/jobs/{job['job_id']}/result").json
    first, second = result["pages"]
    assert first["text_source"] == "text-layer" and second["text_source"] == "ocr"
    assert [line["text"] for block in first["blocks"] for line in block["lines"]] == BORN_DIGITAL_LINES
    words = [w["text"] for block in first["blocks"] for line in block["lines"] for w in line["words"]]
    assert words[:2] == ["Quarterly", "report"]
    # The same pixel frame as an OCR'd page: 612 x 792 pt at the platform's 200 dpi.
    assert (first["width"], first["height"]) == (1700, 2200)
    assert set(first["timings"]) == {"text_layer", "total"}
    # The worker rendered only the scan; the born-digital page is drawn when its picture is first
    # asked for, at the size its boxes refer to.
    for number in (1, 2):
        image = alice.get(f"/v1/jobs/{job['job_id']}/pages/{number}/image")
        assert image.status_code == 200 and image.content_type == "image/png"
        assert Image.open(io.BytesIO(image.data)).size == (
            result["pages"][number - 1]["width"],
            result["pages"][number - 1]["height"],
        )


def test_the_searchable_pdf_is_the_upload_with_a_layer_on_the_scan(auto_job, alice, tmp_path):
    source, job = auto_job
    out = alice.get(f"/v1/jobs/{job['job_id']}/result.pdf")
    assert out.status_code == 200 and out.content_type == "application/pdf"
    path = tmp_path / "out.pdf"
    path.write_bytes(out.data)
    check = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert (
        pdftotext(out.data, tmp_path, "-f", "1", "-l", "1").split() == pdftotext(source, tmp_path, "-f", "1", "-l", "1").split()
    )
    with pikepdf.open(io.BytesIO(source)) as before, pikepdf.open(io.BytesIO(out.data)) as after:
        assert len(after.pages) == 2
        # Page 1 is untouched; page 2 keeps its picture and gains the invisible text.
        assert after.pages[0].Contents.read_bytes() == before.pages[0].Contents.read_bytes()
        (name,) = list(before.pages[1].Resources.XObject.keys())
        assert after.pages[1].Resources.XObject[name].read_raw_bytes() == before.pages[1].Resources.XObject[name].read_raw_bytes()
        assert "/Font" in after.pages[1].Resources
    assert len(out.data) <= len(source) + 4000  # one text layer and its glyph-less font (bench/pdf_output.py: real sizes)


def test_keep_never_ocrs_and_a_bad_mode_is_refused(alice):
    answer = alice.submit([(mixed_pdf(), "report.pdf")], pdf_text="keep", outputs="json")
    assert answer.status_code == 202, answer.json
    job = alice.wait(answer.json["job_id"])
    assert job["status"] == "succeeded" and job["pdf_text"] == "keep"
    first, second = alice.get(f"/v1/jobs/{job['job_id']}/result").json["pages"]
    assert first["text_source"] == second["text_source"] == "text-layer"
    assert second["blocks"] == [] and any("no text layer" in w for w in second["warnings"])

    refused = alice.submit([(mixed_pdf(), "report.pdf")], pdf_text="sometimes")
    assert refused.status_code == 400 and refused.json["error"] == "invalid_option"
    assert "pdf_text" in refused.json["message"]
