"""The browser-test harness: real headless Chromium (Debian's package) driven by Playwright's async API in
the test's own event loop, a fresh browser profile per test, screenshots under var/screenshots/.

Reusable by any browser test (the web chat, the staff console): import the fixtures into the folder's
conftest.py (`from tests.web.browser import browser, browser_pages  # noqa: F401`) and use

    async def test_x(browser_pages):
        page = await browser_pages.new(phone=True)   # a new context = a fresh profile
        ...
        await browser_pages.snap(page, "name")      # var/screenshots/name-phone.png

Rules (issue 10): never `playwright install` (it downloads a browser from outside); the Makefile installs
Debian's `chromium` (+ fonts-dejavu-core for Vietnamese diacritics) when it runs as root with apt-get.
Where no browser can be used, the tests skip with the reason, except when CI=true: then they fail.
The pytest-playwright plugin is not used (its sync fixtures break async tests).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
CHROMIUM = os.environ.get("CHONNGHE_TEST_CHROMIUM", "/usr/bin/chromium")
# Site isolation off: headless Chromium 156 driven over CDP drops text typed into a cross-site iframe
# running in its own process (the widget test: fill() and key presses reached the focused textarea in
# about half the runs, never with press_sequentially). The same-origin policy, which is what keeps a host
# page out of the widget's iframe, holds either way.
ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--no-first-run",
        "--disable-site-isolation-trials", "--disable-features=IsolateOrigins,site-per-process"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
TIMEOUT_MS = 15_000


def unavailable() -> str | None:
    """Why browser tests cannot run here, or None when they can."""
    try:
        import playwright.async_api  # noqa: F401
    except ImportError as exc:
        return f"playwright is not installed ({exc}); run `make install`"
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return (f"no Chromium at {CHROMIUM}: `make install` installs Debian's chromium when run as root "
                "with apt-get (apt-get install chromium fonts-dejavu-core)")
    return None


def require_browser() -> None:
    """Skip (or, with CI=true, fail) when no browser can be used."""
    reason = unavailable()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser tests cannot run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """A headless Chromium of its own for this test (a fresh profile, removed afterwards)."""
    require_browser()
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        # launch() gives every browser a throw-away profile of its own: nothing survives the test.
        launched = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@dataclass
class Pages:
    """New pages in fresh browser contexts, request logs per page, and screenshots."""

    browser: Any
    contexts: list[Any] = field(default_factory=list)
    requests: dict[int, list[str]] = field(default_factory=dict)
    errors: dict[int, list[str]] = field(default_factory=dict)

    async def context(self, *, phone: bool = False, **options: Any) -> Any:
        """A fresh context (cookies, storage: a new profile); phone size with touch, or desktop size."""
        size = PHONE if phone else DESKTOP
        defaults: dict[str, Any] = {"viewport": size, "locale": "vi-VN", "timezone_id": "Asia/Ho_Chi_Minh"}
        if phone:
            defaults.update(device_scale_factor=2, is_mobile=True, has_touch=True)
        defaults.update(options)
        ctx = await self.browser.new_context(**defaults)
        ctx.set_default_timeout(TIMEOUT_MS)
        self.contexts.append(ctx)
        return ctx

    async def new(self, *, phone: bool = False, context: Any = None, **options: Any) -> Any:
        """A new page (in `context`, or in a fresh one), recording every request it makes and every
        script error or CSP violation it reports."""
        ctx = context or await self.context(phone=phone, **options)
        page = await ctx.new_page()
        log = self.requests.setdefault(id(page), [])
        errors = self.errors.setdefault(id(page), [])
        page.on("request", lambda request: log.append(request.url))
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        return page

    def requested(self, page: Any) -> list[str]:
        return list(self.requests.get(id(page), []))

    def foreign(self, page: Any, *allowed: str) -> list[str]:
        """Requests of `page` to an origin other than `allowed` (data: URLs aside)."""
        origins = {_origin(a) for a in allowed}
        return [u for u in self.requested(page) if not u.startswith(("data:", "about:", "blob:"))
                and _origin(u) not in origins]

    def page_errors(self, page: Any) -> list[str]:
        return list(self.errors.get(id(page), []))

    async def snap(self, page: Any, name: str) -> Path:
        """Save a screenshot as var/screenshots/<name>-<phone|desktop>.png."""
        size = page.viewport_size or DESKTOP
        kind = "phone" if size["width"] < 600 else "desktop"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}-{kind}.png"
        await page.screenshot(path=str(path))
        return path

    async def close(self) -> None:
        for ctx in self.contexts:
            with contextlib.suppress(Exception):
                await ctx.close()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@pytest.fixture
async def browser_pages(browser) -> AsyncIterator[Pages]:
    pages = Pages(browser)
    yield pages
    await pages.close()
