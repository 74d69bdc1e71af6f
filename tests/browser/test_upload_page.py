"""The upload page in a real browser: a two-page PDF goes in, both pages come back with their lines drawn."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import expect

from tests.browser.conftest import UI_TIMEOUT_MS
from tests.integration.documents import char_error_rate, font, pdf, text_page

pytestmark = [pytest.mark.browser, pytest.mark.integration]

PAGES = [
    ["Invoice 2024 总计 358.00 元", "The quick brown fox jumps"],
    ["光学字符识别测试页面", "Hello world 你好世界"],
]


@pytest.fixture(scope="module")
def read_pdf(browser, live_server, keys, tmp_path_factory):
    """The PDF read through the page as a person would: choose it, press the button, wait for both pages."""
    path = tmp_path_factory.mktemp("upload") / "two-pages.pdf"
    path.write_bytes(pdf([text_page(lines, size=(800, 300)) for lines in PAGES]))
    ctx = browser.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True)
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server)
    ctx.add_init_script(f"localStorage.setItem('ocr.apiKey', {keys['alice']!r}); localStorage.setItem('ocr.uiLang', 'en');")
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(live_server + "/")
    page.set_input_files("#file-input", str(path))
    page.wait_for_selector("#file-list .file-name:text('two-pages.pdf')")
    page.select_option("#opt-pdf-text", "ocr")  # a scan reads the same either way; the choice must reach the job
    page.click("#start-button")
    page.wait_for_selector("#page-1 .page-image", timeout=UI_TIMEOUT_MS)
    page.wait_for_selector("#page-2 .page-image", timeout=UI_TIMEOUT_MS)
    page.wait_for_function("() => !document.querySelector('#downloads button[data-format=txt]').disabled", timeout=UI_TIMEOUT_MS)
    page.wait_for_function("() => [...document.querySelectorAll('.page-image')].every(i => i.complete && i.naturalWidth > 0)")
    job_id = page.inner_text("#job-id").strip()
    yield page, job_id, errors
    ctx.close()


def result_pages(alice, job_id: str) -> dict[int, dict]:
    answer = alice.get(f"/v1/jobs/{job_id}/result")
    assert answer.status_code == 200, answer.json
    return {p["page_number"]: p for p in answer.json["pages"]}


def test_both_pages_appear_with_their_images(read_pdf, alice):
    page, job_id, errors = read_pdf
    job = alice.job(job_id)
    assert job["status"] == "succeeded", job
    assert [f["filename"] for f in job["files"]] == ["two-pages.pdf"]
    assert page.locator(".page-panel").count() == 2
    assert page.locator(".page-panel .page-head h3").all_inner_texts() == ["two-pages.pdf · page 1", "two-pages.pdf · page 2"]
    assert page.locator("#page-chips .chip-done").count() == 2
    results = result_pages(alice, job_id)
    for number in (1, 2):
        size = page.eval_on_selector(f"#page-{number} .page-image", "i => [i.naturalWidth, i.naturalHeight]")
        assert size == [results[number]["width"], results[number]["height"]]
    assert "Finished: 2 of 2 pages read" in page.inner_text("#progress-label")
    assert errors == []


def test_boxes_and_text_match_the_result(read_pdf, alice):
    """Every line of the result is drawn as a box over the page and listed beside it, low confidence marked."""
    page, job_id, _ = read_pdf
    results = result_pages(alice, job_id)
    for number in (1, 2):
        lines = results[number]["lines"]
        panel = page.locator(f"#page-{number}")
        svg = panel.locator("svg.boxes")
        assert svg.get_attribute("viewBox") == f"0 0 {results[number]['width']} {results[number]['height']}"
        # The overlay covers exactly the image as displayed, so boxes land on their lines at any size.
        image_box, svg_box = panel.locator(".page-image").bounding_box(), svg.bounding_box()
        for key in ("x", "y", "width", "height"):
            assert abs(image_box[key] - svg_box[key]) <= 1, (key, image_box, svg_box)
        assert panel.locator("polygon.box").count() == len(lines)
        points = panel.locator("polygon.box").evaluate_all("ps => ps.map(p => p.getAttribute('points'))")
        drawn = [[tuple(map(float, xy.split(","))) for xy in p.split()] for p in points]  # JS prints 38.0 as 38
        assert drawn == [[(x, y) for x, y in line["polygon"]] for line in lines]
        if lines:
            assert panel.locator(".line-text").all_inner_texts() == [line["text"] for line in lines]
            low = sum(1 for line in lines if line["confidence"] < 0.6)
            assert panel.locator("li.line.is-low").count() == low
            assert panel.locator("polygon.box.is-low").count() == low
        else:
            assert "No text was found on this page." in panel.inner_text()


def test_downloads_and_copy(read_pdf, alice):
    page, job_id, _ = read_pdf
    with page.expect_download() as download:
        page.click("#downloads button[data-format=txt]")
    assert Path(download.value.path()).read_bytes() == alice.get(f"/v1/jobs/{job_id}/result.txt").data
    with page.expect_download() as download:
        page.click("#downloads button[data-format=json]")
    document = json.loads(Path(download.value.path()).read_bytes())
    assert [p["page_number"] for p in document["pages"]] == [1, 2]
    with page.expect_download() as download:
        page.click("#downloads button[data-format=pdf]")
    assert Path(download.value.path()).read_bytes()[:4] == b"%PDF"

    page.click("#copy-all")
    page.wait_for_selector("#toast.show")
    copied = page.evaluate("() => navigator.clipboard.readText()")
    results = result_pages(alice, job_id)
    assert copied == "\n\n".join("\n".join(line["text"] for line in results[n]["lines"]) for n in (1, 2))


def test_the_pdf_text_choice_is_sent(read_pdf, alice):
    _, job_id, _ = read_pdf
    assert alice.job(job_id)["pdf_text"] == "ocr"


def test_interface_switches_to_chinese(read_pdf):
    page, _, _ = read_pdf
    page.click("#lang-button")
    assert page.inner_text(".results-head h2") == "识别结果"
    assert page.inner_text("#page-1 .page-head h3") == "two-pages.pdf · 第 1 页"
    assert page.get_attribute("html", "lang") == "zh-CN"
    page.click("#lang-button")
    assert page.inner_text(".results-head h2") == "Result"


@pytest.mark.trained
def test_recognised_text_and_hover(read_pdf, alice):
    """With trained weights: the boxes hold the real lines, and hovering one shows its text and confidence."""
    page, job_id, _ = read_pdf
    results = result_pages(alice, job_id)
    for number, expected in zip((1, 2), PAGES, strict=True):
        text = "\n".join(line["text"] for line in results[number]["lines"])
        assert char_error_rate("\n".join(expected), text) < 0.1, text
        assert page.locator(f"#page-{number} polygon.box").count() == len(expected)
    first = results[1]["lines"][0]
    box = page.locator("#page-1 polygon.box").first
    # Scrolling hides the tip (it would float away from its box): bring the box into view first,
    # let the scroll event pass, then hover as a user would.
    box.scroll_into_view_if_needed()
    page.wait_for_timeout(200)
    box.hover()
    tip = page.locator("#box-tip")
    expect(tip).to_be_visible()
    assert first["text"] in tip.inner_text()
    assert f"{first['confidence'] * 100:.1f}%" in tip.inner_text()
    assert "is-active" in page.locator("#page-1 li.line").first.get_attribute("class")


def test_v1_index_serves_the_same_page(open_page):
    page = open_page(None, "/v1/index")
    assert page.locator("#dropzone").is_visible()
    assert page.get_attribute("#file-input", "accept") == "image/*,application/pdf"
    assert page.get_attribute("#camera-input", "capture") == "environment"
    assert page.locator("#file-input").evaluate("i => i.multiple") is True


def test_without_a_key_the_page_asks_for_one(open_page, tmp_path):
    sample = tmp_path / "one.png"
    text_page(["no key"]).save(sample)
    page = open_page(None, "/")
    page.set_input_files("#file-input", str(sample))
    page.click("#start-button")
    assert page.locator("#key-dialog").is_visible()
    assert "Set your API key first" in page.inner_text("#key-note")


def big_photo() -> bytes:
    """A 4200x3150 phone-style photo of a text page, over the 2 MiB upload limit the test platform sets."""
    rng = random.Random(5)
    image = Image.new("RGB", (4200, 3150), (232, 228, 220))
    draw = ImageDraw.Draw(image)
    f = font(120)
    for i, line in enumerate(["Large photo 大照片", "compressed in the browser", "在浏览器中压缩"]):
        draw.text((300, 400 + i * 300), line, font=f, fill=(30, 30, 30))
    pixels = image.load()
    for _ in range(400_000):  # sensor noise, so the file is as big as a real photo
        x, y = rng.randrange(image.width), rng.randrange(image.height)
        v = rng.randint(150, 255)
        pixels[x, y] = (v, v, v)
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=97)
    return buf.getvalue()


def test_large_photos_are_shrunk_before_upload(open_page, keys, alice, platform, tmp_path):  # noqa: F811
    photo = tmp_path / "camera.jpg"
    photo.write_bytes(big_photo())
    assert photo.stat().st_size > platform.settings.max_upload_bytes  # would be refused as it is
    page = open_page(keys["alice"], "/")
    page.set_input_files("#file-input", str(photo))
    page.wait_for_selector("#file-list .file-note")
    assert "compressed from" in page.inner_text("#file-list")
    page.click("#start-button")
    page.wait_for_function("() => document.querySelector('#job-id').textContent.length > 0")
    job_id = page.inner_text("#job-id").strip()
    job = alice.job(job_id)
    (uploaded,) = job["files"]
    assert uploaded["filename"] == "camera.jpg"
    assert uploaded["size_bytes"] < platform.settings.max_upload_bytes
    alice.post(f"/v1/jobs/{job_id}/cancel")  # the point was the upload; spare the worker
    stored = alice.wait(job_id)
    assert stored["status"] in ("cancelled", "succeeded", "partial_success")
    image_answer = alice.get(f"/v1/jobs/{job_id}/pages/1/image")
    if image_answer.status_code == 200:  # read before the cancel landed: the page is the shrunk photo
        assert max(Image.open(io.BytesIO(image_answer.data)).size) == 3000


def test_dropped_files_are_listed_and_removable(open_page, keys):
    """Drag and drop: the same DragEvent a desktop browser fires, carrying two files."""
    page = open_page(keys["alice"], "/")
    page.evaluate(
        """async (pngBytes) => {
             const dt = new DataTransfer();
             dt.items.add(new File([new Uint8Array(pngBytes)], 'dropped.png', {type: 'image/png'}));
             dt.items.add(new File(['%PDF-1.4 not really'], 'second.pdf', {type: 'application/pdf'}));
             const zone = document.querySelector('#dropzone');
             zone.dispatchEvent(new DragEvent('dragover', {dataTransfer: dt, bubbles: true, cancelable: true}));
             zone.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
           }""",
        list(png_bytes()),
    )
    page.wait_for_function("() => document.querySelectorAll('#file-list .file-item').length === 2")
    assert page.locator("#file-list .file-name").all_inner_texts() == ["dropped.png", "second.pdf"]
    page.wait_for_selector("#start-button:not([disabled])")
    page.locator("#file-list .file-item").nth(1).locator("button").click()
    assert page.locator("#file-list .file-name").all_inner_texts() == ["dropped.png"]
    page.click("#clear-button")
    assert page.locator("#file-list").is_hidden()
    assert page.locator("#start-button").is_disabled()


def png_bytes() -> bytes:
    buf = io.BytesIO()
    text_page(["dropped"]).save(buf, format="PNG")
    return buf.getvalue()


NOT_AN_IMAGE = "The file is not a supported image (PNG, JPEG, TIFF, BMP, WebP) or a PDF."


def test_a_bad_file_among_good_ones_is_marked_and_the_others_are_read(open_page, keys, alice, tmp_path):
    """Three files, the middle one not an image: two results, and the bad one marked with the server's reason."""
    first, notes, second = tmp_path / "first.png", tmp_path / "notes.png", tmp_path / "second.pdf"
    text_page(["First file"], size=(600, 150)).save(first)
    notes.write_bytes(b"a shopping list, not a picture")
    second.write_bytes(pdf([text_page(["Second file"], size=(600, 150))]))
    page = open_page(keys["alice"], "/")
    page.set_input_files("#file-input", [str(first), str(notes), str(second)])
    page.wait_for_function("() => document.querySelectorAll('#file-list .file-item').length === 3")
    page.wait_for_selector("#start-button:not([disabled])")
    page.click("#start-button")

    # At once: the accepted files leave the list, the refused one stays with its reason, on screen to stay.
    refused = page.locator("#file-list .file-item.is-rejected")
    expect(refused).to_have_count(1, timeout=30_000)
    expect(page.locator("#file-list .file-item")).to_have_count(1)
    expect(refused.locator(".file-name")).to_have_text("notes.png")
    expect(refused.locator(".file-error")).to_contain_text(NOT_AN_IMAGE)
    expect(refused.locator(".code-tag")).to_have_text("unsupported_format")
    expect(page.locator("#upload-note")).to_have_text(
        "1 of 3 files were refused (marked in the list); the others are being read."
    )
    expect(page.locator("#start-button")).to_be_disabled()  # a refused file is not sent again

    page.wait_for_selector("#page-1 .page-image", timeout=UI_TIMEOUT_MS)
    page.wait_for_selector("#page-2 .page-image", timeout=UI_TIMEOUT_MS)
    page.wait_for_function(
        "() => document.querySelector('#progress-label').textContent.startsWith('Finished')", timeout=UI_TIMEOUT_MS
    )
    job = alice.job(page.inner_text("#job-id").strip())
    assert job["status"] == "partial_success", job
    assert [(r["filename"], r["code"]) for r in job["rejected"]] == [("notes.png", "unsupported_format")]
    assert page.locator(".page-panel").count() == 2
    assert page.locator(".page-panel .page-head h3").all_inner_texts() == ["first.png · page 1", "second.pdf · page 1"]
    # The job's own account of the refused file sits in the progress card, and the list still marks it.
    assert "notes.png" in page.inner_text("#file-errors") and NOT_AN_IMAGE in page.inner_text("#file-errors")
    expect(refused.locator(".file-error")).to_contain_text(NOT_AN_IMAGE)
    assert page.errors == []

    # Removing the refused file takes its note away.
    refused.locator("button").click()
    expect(page.locator("#upload-note")).to_be_hidden()


def test_a_request_of_bad_files_only_marks_each_and_starts_no_job(open_page, keys, tmp_path):
    notes, empty = tmp_path / "notes.png", tmp_path / "empty.pdf"
    notes.write_bytes(b"a shopping list, not a picture")
    empty.write_bytes(b"")
    page = open_page(keys["alice"], "/")
    page.set_input_files("#file-input", [str(notes), str(empty)])
    page.wait_for_selector("#start-button:not([disabled])")
    page.click("#start-button")
    refused = page.locator("#file-list .file-item.is-rejected")
    expect(refused).to_have_count(2)
    expect(refused.nth(0).locator(".file-error")).to_contain_text(NOT_AN_IMAGE)
    expect(refused.nth(1).locator(".file-error")).to_contain_text("The file is empty.")
    expect(page.locator("#upload-note")).to_have_text("No file was accepted (each is marked in the list).")
    expect(page.locator("#start-button")).to_be_disabled()
    assert page.inner_text("#job-id") == ""
    assert page.errors == []
