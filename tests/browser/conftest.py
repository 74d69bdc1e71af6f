"""Browser tests: headless Chromium (Debian's, driven by Playwright) against the real platform.

The platform is the integration tests' (tests/integration/conftest.py): a fresh
PostgreSQL schema, a Redis key prefix of its own and a real Celery worker
process running the shipped models. Here the app is also served over HTTP
from a thread, since a browser needs a socket, not Flask's test client.
"""

from __future__ import annotations

import pytest

from tests.integration.conftest import (  # noqa: F401  (shared fixtures)
    Api,
    admin,
    alice,
    app,
    bob,
    client,
    keys,
    live_server,
    platform,
)
from web.local_stack import CHROMIUM_ARGS, chromium_path

UI_TIMEOUT_MS = 240_000  # a page on a busy CPU, the first one also loading the models


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as pw:
        try:
            launched = pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS, timeout=60_000)
        except Exception as exc:
            pytest.fail(f"Playwright cannot start Chromium at {executable} (Debian: apt-get install chromium): {exc}")
        yield launched
        launched.close()


@pytest.fixture
def open_page(browser, live_server):  # noqa: F811
    """open_page(key, path, lang="en", phone=False) -> a Playwright page with the key already pasted into the UI."""
    contexts = []

    def opener(key: str | None, path: str = "/", lang: str = "en", phone: bool = False):
        shape = (
            {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
            if phone
            else {"viewport": {"width": 1366, "height": 900}}
        )
        ctx = browser.new_context(**shape, locale="en-US")
        ctx.set_default_timeout(30_000)
        script = f"localStorage.setItem('ocr.uiLang', {lang!r});"
        if key:
            script += f"localStorage.setItem('ocr.apiKey', {key!r});"
        ctx.add_init_script(script)
        contexts.append(ctx)
        page = ctx.new_page()
        page.errors = []
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        page.goto(live_server + path)
        return page

    yield opener
    for ctx in contexts:
        ctx.close()
