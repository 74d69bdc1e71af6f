"""Screenshots of the web pages for the README: ``make screenshots`` (python -m web.screenshots).

Starts a throwaway platform (web.local_stack: SQLite, Redis, the API, one
real worker running the shipped models), reads a two-page bilingual PDF
through the upload page in headless Chromium, submits a damaged file so the
dashboard has a failure to show, and writes

    docs/screenshots/upload-desktop.png    docs/screenshots/upload-phone.png
    docs/screenshots/dashboard-desktop.png docs/screenshots/dashboard-phone.png

Desktop shots are in English, phone shots in Chinese, so both interfaces are seen.
What the pages show is what the models read: with untrained weights the
boxes and text are few or nonsense; run again once trained weights land.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

import requests
from PIL import Image, ImageDraw, ImageFont

from core.settings import REPO_ROOT
from web.local_stack import CHROMIUM_ARGS, chromium_path, local_stack

OUT_DIR = REPO_ROOT / "docs" / "screenshots"
DESKTOP = {"viewport": {"width": 1440, "height": 900}, "device_scale_factor": 1}
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
FONTS = [
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
]
PAGES = [
    ["会议通知 Meeting Notice", "时间：2024年5月20日 下午3点", "地点：第二会议室 Room 2", "Please bring the quarterly report."],
    ["发票 Invoice No. 2024-0518", "商品 Item: 打印纸 A4 Paper × 10", "金额 Amount: ¥ 358.00", "Thank you for your business!"],
]


def sample_pdf() -> bytes:
    """Two A5 pages of Chinese and English lines, as a scanner would make them (150 dpi)."""
    path = next((p for p in FONTS if Path(p).exists()), None)
    font = ImageFont.truetype(path, 34) if path else ImageFont.load_default()
    images = []
    for lines in PAGES:
        page = Image.new("RGB", (874, 1240), "white")
        draw = ImageDraw.Draw(page)
        for i, line in enumerate(lines):
            draw.text((80, 140 + i * 90), line, font=font, fill=(20, 20, 20))
        images.append(page)
    buf = io.BytesIO()
    images[0].save(buf, format="PDF", save_all=True, append_images=images[1:], resolution=150)
    return buf.getvalue()


def damaged_png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (640, 200), "white").save(buf, format="PNG")
    data = buf.getvalue()
    return data[: len(data) // 2]  # a truncated image: its header says PNG, its pixels are gone


def context(browser, shape: dict, key: str, lang: str):
    ctx = browser.new_context(**shape, locale="zh-CN" if lang == "zh" else "en-US")
    ctx.add_init_script(f"localStorage.setItem('ocr.apiKey', {key!r}); localStorage.setItem('ocr.uiLang', {lang!r});")
    return ctx


def wait_final(base: str, key: str, job_id: str, timeout: float = 600) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = requests.get(f"{base}/v1/jobs/{job_id}", headers={"X-API-Key": key}, timeout=10).json()
        if job["status"] in ("succeeded", "partial_success", "failed", "cancelled"):
            return job
        if time.monotonic() > deadline:
            raise RuntimeError(f"job {job_id} still {job['status']} after {timeout} s")
        time.sleep(0.5)


def take(out_dir: Path, database_url: str | None = None) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with local_stack(database_url, worker=True) as stack, sync_playwright() as pw, tempfile.TemporaryDirectory() as tmp:
        base, key = stack.base_url, stack.admin_key
        pdf = Path(tmp) / "notice-and-invoice.pdf"
        pdf.write_bytes(sample_pdf())
        broken = requests.post(
            f"{base}/v1/jobs", headers={"X-API-Key": key}, files={"file": ("scan-damaged.png", damaged_png())}, timeout=30
        ).json()

        browser = pw.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        try:
            # The upload page, used as a person would: choose the file, press the button, wait for both pages.
            ctx = context(browser, DESKTOP, key, "en")
            page = ctx.new_page()
            page.goto(base + "/")
            page.set_input_files("#file-input", str(pdf))
            page.click("#start-button")
            page.wait_for_selector("#page-2 .page-image", timeout=600_000)
            page.wait_for_function(
                "() => !document.querySelector('#downloads button[data-format=txt]').disabled", timeout=600_000
            )
            job_id = page.eval_on_selector("#job-id", "el => el.textContent")
            _settle_images(page)
            written.append(_shot(page, out_dir / "upload-desktop.png"))
            ctx.close()

            wait_final(base, key, broken["job_id"])
            time.sleep(stack.settings.heartbeat_interval + 1)  # a fresh heartbeat for the workers table

            ctx = context(browser, PHONE, key, "zh")
            page = ctx.new_page()
            page.goto(f"{base}/?job={job_id}")
            page.wait_for_selector("#page-2 .page-image", timeout=60_000)
            _settle_images(page)
            written.append(_shot(page, out_dir / "upload-phone.png"))
            ctx.close()

            for shape, lang, name in ((DESKTOP, "en", "dashboard-desktop.png"), (PHONE, "zh", "dashboard-phone.png")):
                ctx = context(browser, shape, key, lang)
                page = ctx.new_page()
                page.goto(base + "/dashboard")
                page.wait_for_selector("#jobs-table", timeout=60_000)
                page.wait_for_selector("#chart-throughput canvas", timeout=60_000)
                page.wait_for_timeout(300)
                written.append(_shot(page, out_dir / name))
                ctx.close()
        finally:
            browser.close()
    return written


def _settle_images(page) -> None:
    page.wait_for_function("() => [...document.querySelectorAll('.page-image')].every(i => i.complete && i.naturalWidth > 0)")
    page.mouse.move(0, 0)
    page.wait_for_timeout(300)


def _shot(page, path: Path) -> Path:
    page.screenshot(path=str(path), full_page=True)
    print(f"wrote {path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path}")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="where the PNG files go (docs/screenshots)")
    parser.add_argument("--database-url", help="a PostgreSQL to use (a scratch schema is made); default: SQLite in a temp dir")
    args = parser.parse_args(argv)
    take(args.out, args.database_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
