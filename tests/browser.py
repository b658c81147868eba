"""Launch the system Chromium with Playwright's sync API.

Playwright cannot download its own browsers here, so the tests drive the
Debian ``chromium`` package. Usage::

    from playwright.sync_api import sync_playwright

    if chromium_path() is None:
        pytest.skip("Chromium not installed (apt-get install chromium)")
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = browser.new_page(**PHONE)
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

__all__ = [
    "BROWSER_MARKS",
    "CHROMIUM_ARGS",
    "DESKTOP",
    "DESKTOP_VIEWPORT",
    "PHONE",
    "PHONE_VIEWPORT",
    "UNLABELLED_JS",
    "chromium_path",
    "chromium_session",
    "launch_chromium",
]

#: Where Debian's chromium package puts the browser.
DEFAULT_CHROMIUM = "/usr/bin/chromium"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

#: A common phone, portrait (iPhone 12–15 class: 390 × 844 CSS px).
# Screenshots of the pages the browser tests visit, for a person to look at.
ARTIFACTS = Path(__file__).parent / "artifacts"
DEMO_PASSWORD = "lianfu-demo"
PHONE_VIEWPORT = {"width": 390, "height": 844}
PHONE: dict[str, Any] = dict(viewport=PHONE_VIEWPORT, device_scale_factor=2, is_mobile=True, has_touch=True)

#: An ordinary office desktop screen.
DESKTOP_VIEWPORT = {"width": 1366, "height": 768}
DESKTOP: dict[str, Any] = dict(viewport=DESKTOP_VIEWPORT, device_scale_factor=1, is_mobile=False, has_touch=False)


def chromium_path() -> str | None:
    """Path of the Chromium executable, or None when it is not installed.

    ``$LIANFU_CHROMIUM`` overrides the default ``/usr/bin/chromium``.
    """
    candidates = [os.environ.get("LIANFU_CHROMIUM"), DEFAULT_CHROMIUM, shutil.which("chromium")]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def launch_chromium(playwright: Playwright, **kwargs: Any) -> Browser:
    """Launch headless system Chromium; extra ``kwargs`` go to ``chromium.launch``."""
    path = chromium_path()
    if path is None:
        raise RuntimeError(f"Chromium not found at {DEFAULT_CHROMIUM}; install it with `apt-get install -y chromium`")
    options: dict[str, Any] = {"executable_path": path, "headless": True, "args": list(CHROMIUM_ARGS)}
    options.update(kwargs)
    return playwright.chromium.launch(**options)


def chromium_session(timeout_ms: int) -> Iterator[Browser]:
    """A module's Chromium, with Playwright's expectations waiting up to `timeout_ms` (a module-scoped fixture
    yields from this)."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=timeout_ms)
    with sync_playwright() as pw:
        chromium = launch_chromium(pw)
        try:
            yield chromium
        finally:
            chromium.close()


# Every visible form control without a label (own <label>, aria-label or aria-labelledby), for page.evaluate.
UNLABELLED_JS = """() => Array.from(document.querySelectorAll('input, select, textarea'))
  .filter(el => el.type !== 'hidden' && el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden')
  .filter(el => !(el.labels && Array.from(el.labels).some(l => l.textContent.trim()))
                && !(el.getAttribute('aria-label') || '').trim() && !el.getAttribute('aria-labelledby'))
  .map(el => el.outerHTML)"""


# Marks for a browser test module: tagged `browser`, skipped with the reason when Chromium is missing.
BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(
        chromium_path() is None,
        reason="Chromium not found at /usr/bin/chromium; install it with `apt-get install -y chromium`",
    ),
]


class Person:
    """One person's browser context and page (a phone unless `device` says otherwise), with every error the page
    reported: JavaScript errors, console errors and failed requests."""

    def __init__(self, browser: Any, base_url: str, device: dict[str, Any] | None = None,
                 timeout_ms: int = 10_000) -> None:
        self.base_url = base_url
        self.context = browser.new_context(**(device or PHONE), locale="zh-CN")
        self.context.set_default_timeout(timeout_ms)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda msg: self.errors.append(f"console: {msg.text}") if msg.type == "error" else None)
        self.page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        self.page.on("requestfailed", lambda req: None if "ERR_ABORTED" in (req.failure or "")
                     else self.errors.append(f"requestfailed: {req.url} {req.failure}"))

    def log_in(self, username: str, next_path: str = "/", password: str = DEMO_PASSWORD) -> None:
        self.page.goto(f"{self.base_url}/login?next={next_path}")
        self.page.get_by_label("用户名").fill(username)
        self.page.get_by_label("密码").fill(password)
        with self.page.expect_navigation():
            self.page.get_by_role("button", name="登录", exact=True).click()

    def check_page(self, screenshot: str) -> None:
        """No sideways scroll, every field labelled, a screenshot of the whole page."""
        width = self.page.evaluate("window.innerWidth")
        scroll = self.page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= width, f"{self.page.url} scrolls sideways: {scroll} > {width} px"
        assert self.page.evaluate(UNLABELLED_JS) == [], f"form controls without a label on {self.page.url}"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / screenshot), full_page=True)

    def close(self) -> None:
        self.context.close()
