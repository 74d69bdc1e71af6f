"""Can Playwright drive this Chromium binary? Exit 0 if it renders a page, 1 (with the reason) if not.

    python scripts/check_browser.py [/usr/bin/chromium]

Playwright's own browser download is impossible offline, so the browser tests launch the system's
Chromium through ``executable_path``; this is the same launch, done once before the test run.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from scripts/
from web.local_stack import CHROMIUM_ARGS  # noqa: E402  (the flags the browser tests launch with)


def main(argv: list[str]) -> int:
    executable = argv[1] if len(argv) > 1 else os.environ.get("OCR_TEST_CHROMIUM", "/usr/bin/chromium")
    if not os.access(executable, os.X_OK):
        print(f"check_browser: {executable} is not an executable (Debian: apt-get install chromium)", file=sys.stderr)
        return 1
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("check_browser: the playwright package is not installed in this environment", file=sys.stderr)
        return 1
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS, timeout=60_000)
            page = browser.new_page()
            page.set_content("<p id=t>ok</p>")
            text = page.inner_text("#t")
            browser.close()
    except Exception as exc:  # any launch failure: report it, the caller decides what to do
        print(f"check_browser: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0 if text == "ok" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
