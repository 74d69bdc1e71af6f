"""``ocr run`` as a user runs it: a real subprocess, real files, the real engine for the happy path."""

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pikepdf
import pytest
from PIL import Image, ImageDraw, ImageFont

from pipeline.formats import to_text
from pipeline.result import Document
from tests.unit.loader_samples import corrupt_pdf, encrypted_pdf, pdf_bytes, png_bomb, truncated_jpeg

REPO = Path(__file__).resolve().parents[2]
CJK_FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
# The console script that `pip install -e .` puts beside the interpreter; the module otherwise.
ENTRY_POINT = Path(sys.executable).with_name("ocr")
OCR_COMMAND = [str(ENTRY_POINT)] if ENTRY_POINT.exists() else [sys.executable, "-m", "pipeline.cli"]


def ocr(*args: str, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([*OCR_COMMAND, *args], cwd=REPO, env=environment, capture_output=True, timeout=300, **kwargs)


def assert_clean_failure(result: subprocess.CompletedProcess, code: str, exit_status: int = 2) -> str:
    stderr = result.stderr.decode()
    assert result.returncode == exit_status, stderr
    assert "Traceback" not in stderr
    assert stderr.startswith(f"ocr: error: {code}: ") and stderr.count("\n") == 1, stderr
    assert result.stdout == b""
    return stderr


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad")
    files = {
        "text.png": b"this is a text file that only pretends to be a PNG\n",
        "truncated.jpg": truncated_jpeg(),
        "encrypted.pdf": encrypted_pdf(),
        "corrupt.pdf": corrupt_pdf(),
        "bomb.png": png_bomb(),
        "empty.png": b"",
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return {name: folder / name for name in files}


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("text.png", "unsupported_format"),
        ("truncated.jpg", "corrupt_file"),
        ("encrypted.pdf", "encrypted_pdf"),
        ("corrupt.pdf", "corrupt_file"),
        ("bomb.png", "image_too_large"),
        ("empty.png", "empty_file"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_2(bad_files, name, code):
    assert_clean_failure(ocr("run", str(bad_files[name])), code)


def test_bad_input_fails_the_same_with_an_output_directory_and_leaves_nothing(bad_files, tmp_path):
    out = tmp_path / "out"
    assert_clean_failure(ocr("run", str(bad_files["truncated.jpg"]), "--format", "pdf", "-o", str(out)), "corrupt_file")
    assert not out.exists()


def test_missing_file_and_directory(tmp_path):
    stderr = assert_clean_failure(ocr("run", str(tmp_path / "nowhere.png")), "not_found")
    assert "nowhere.png" in stderr
    assert_clean_failure(ocr("run", str(tmp_path)), "invalid_input")


def test_bad_options(tmp_path):
    page = tmp_path / "page.pdf"
    page.write_bytes(pdf_bytes((720, 360), (720, 360)))
    assert "2 pages" in assert_clean_failure(ocr("run", str(page), "--pages", "3"), "invalid_page_range")
    assert_clean_failure(ocr("run", str(page), "--pages", "2-1"), "invalid_page_range")
    assert_clean_failure(ocr("run", str(page), "--dpi", "0"), "invalid_option")
    # 200 x 200 inches at 200 DPI: refused from the page size, nothing is rendered.
    page.write_bytes(pdf_bytes((14400, 14400)))
    assert_clean_failure(ocr("run", str(page)), "image_too_large")


def test_the_apis_page_limit_holds_for_ocr_run(tmp_path):
    doc = tmp_path / "long.pdf"
    doc.write_bytes(pdf_bytes(*[(720, 360)] * 6))
    limit = {"OCR_MAX_PAGES_PER_JOB": "5"}
    stderr = assert_clean_failure(ocr("run", str(doc), env=limit), "too_many_pages")
    assert "6 page(s)" in stderr and "at most 5" in stderr
    # Choosing pages within the limit is the way through; the limit counts the pages chosen.
    assert_clean_failure(ocr("run", str(doc), "--pages", "1-6", env=limit), "too_many_pages")


def test_argparse_errors_exit_2_without_traceback():
    result = ocr("run", "x.png", "--lang", "fr")
    assert result.returncode == 2 and b"Traceback" not in result.stderr and b"invalid choice" in result.stderr


def test_stdin_is_read_with_dash(bad_files):
    result = ocr("run", "-", input=bad_files["encrypted.pdf"].read_bytes())
    assert_clean_failure(result, "encrypted_pdf")


def test_a_pdf_is_not_written_to_a_terminal(tmp_path):
    page = tmp_path / "page.png"
    Image.new("RGB", (50, 50), "white").save(page)
    leader, follower = pty.openpty()
    try:
        result = subprocess.run(
            [*OCR_COMMAND, "run", str(page), "--format", "pdf"],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=follower,
            stderr=subprocess.PIPE,
            timeout=120,
        )
    finally:
        os.close(follower)
        os.close(leader)
    assert result.returncode == 2 and result.stderr.decode().startswith("ocr: error: invalid_option: ")


def test_unexpected_errors_are_one_line_unless_debugging(tmp_path):
    page = tmp_path / "page.pdf"
    page.write_bytes(pdf_bytes((72, 72)))
    broken = {"OCR_PDF_DPI": "two hundred"}  # settings cannot be read: not a user error of the input
    result = ocr("run", str(page), env=broken)
    stderr = result.stderr.decode()
    assert result.returncode == 1 and "Traceback" not in stderr
    assert stderr.startswith("ocr: internal error: ValueError: ") and "--debug" in stderr and stderr.count("\n") == 1
    debug = ocr("--debug", "run", str(page), env=broken)
    assert debug.returncode == 1 and "Traceback" in debug.stderr.decode()
    assert ocr("run", str(page), "--debug", env=broken).stderr.decode().count("Traceback") == 1


def test_help_does_not_load_the_engine():
    code = (
        "import sys\n"
        "from pipeline import cli\n"
        "for argv in (['--help'], ['run', '--help']):\n"
        "    try:\n"
        "        cli.main(argv)\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code == 0\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "--no-orientation" in result.stdout and result.stdout.strip().endswith("False")


# --- with the engine --------------------------------------------------------------------------
def write_text_pdf(path: Path) -> None:
    """Two pages of printed Chinese and English, as a scanner would produce them (images in a PDF)."""
    font = ImageFont.truetype(CJK_FONT, 44)
    pictures = []
    for lines in (["中文识别 Hello World", "第二行 second line"], ["第三页 page three", "表格 1 2 3"]):
        picture = Image.new("RGB", (1240, 700), "white")
        draw = ImageDraw.Draw(picture)
        for i, text in enumerate(lines):
            draw.text((80, 120 + i * 160), text, font=font, fill="black")
        pictures.append(picture)
    pictures[0].save(path, "PDF", resolution=150, save_all=True, append_images=pictures[1:])


@pytest.mark.slow
def test_run_writes_every_output_and_they_agree(tmp_path):
    source = tmp_path / "scan.pdf"
    write_text_pdf(source)
    out = tmp_path / "out"
    result = ocr("run", str(source), "--pages", "2", "--dpi", "100", "--format", "pdf", "--no-orientation", "-o", str(out))
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b""  # the PDF went to the directory
    assert sorted(p.name for p in out.iterdir()) == ["scan-p2-detections.png", "scan.json", "scan.pdf", "scan.txt"]

    doc = Document.from_dict(json.loads((out / "scan.json").read_text(encoding="utf-8")))
    [page] = doc.pages
    # 1240 x 700 px stored at 150 DPI is 595.2 x 336 pt, i.e. 827 x 467 px at 100 DPI.
    assert (page.page_number, page.source_page, page.file_name, page.file_index) == (1, 2, "scan.pdf", 0)
    assert (page.width, page.height, page.angle) == (827, 467, 0)
    assert (out / "scan.txt").read_text(encoding="utf-8") == to_text(doc)
    with Image.open(out / "scan-p2-detections.png") as picture:
        assert picture.size == (827, 467)
    with pikepdf.open(out / "scan.pdf") as pdf:
        assert len(pdf.pages) == 1
        # The input's own page 2, as it was (the text is grafted onto it, not onto a rendering).
        assert [round(float(v), 1) for v in pdf.pages[0].mediabox] == [0, 0, 595.2, 336]
    extracted = subprocess.run(["pdftotext", str(out / "scan.pdf"), "-"], capture_output=True, text=True, check=True).stdout
    assert {c for line in page.lines for c in line.text if not c.isspace()} <= set(extracted)


@pytest.mark.slow
def test_run_prints_json_by_default(tmp_path):
    source = tmp_path / "page.png"
    picture = Image.new("RGB", (900, 300), "white")
    ImageDraw.Draw(picture).text((60, 100), "中文识别 OCR", font=ImageFont.truetype(CJK_FONT, 48), fill="black")
    picture.save(source)
    result = ocr("run", str(source), "--lang", "en")
    assert result.returncode == 0, result.stderr.decode()
    doc = json.loads(result.stdout.decode("utf-8"))
    assert doc["lang"] == "en"
    assert [(p["page_number"], p["width"], p["height"]) for p in doc["pages"]] == [(1, 900, 300)]
    text = ocr("run", str(source), "--lang", "en", "--format", "txt")
    assert text.returncode == 0 and text.stdout.decode("utf-8") == to_text(Document.from_dict(doc))
