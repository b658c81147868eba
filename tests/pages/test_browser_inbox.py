"""The inbox in a real headless Chromium on a 390 px phone, against a real demo hub: the header's unread badge, the
list of notices, the badge refreshed by htmx, marking all read, opening a notice (where it leads).
Fails on any JavaScript/console error or failed request; screenshots go to ``tests/artifacts/``."""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import BROWSER_MARKS, PHONE, Person, chromium_session
from tests.live_hub import live_hub

pytestmark = BROWSER_MARKS

TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def hub_url() -> Iterator[str]:
    with live_hub(enterprises=20) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium_session(TIMEOUT_MS)


def test_the_inbox_and_its_header_badge_on_a_phone(browser: Any, hub_url: str) -> None:
    from playwright.sync_api import expect

    head = Person(browser, hub_url, PHONE)
    try:
        # The demo gives the sub-center head a few unread notices: the badge says how many, on every page.
        head.log_in("subcenter_sh", "/enterprises")
        page = head.page
        badge = page.locator("#notify-count")
        expect(badge).to_be_visible()
        unread = int(badge.inner_text())
        assert unread >= 2
        with page.expect_navigation():
            page.locator("#notify-nav a").click()
        assert page.url.endswith("/notifications")
        expect(page.get_by_role("heading", level=1)).to_have_text("通知")
        items = page.locator(".notice-item.is-unread")
        expect(items).to_have_count(unread)
        expect(page.locator("#notify-nav a")).to_have_attribute("aria-current", "page")
        head.check_page("inbox-phone.png")

        # Read one elsewhere (the API, as another tab would): the badge catches up when htmx asks again.
        notices = page.request.get(f"{hub_url}/api/v1/notifications?unread=true").json()["items"]
        token = json.loads(page.locator("body").get_attribute("hx-headers") or "{}")["X-CSRF-Token"]
        read = page.request.post(f"{hub_url}/api/v1/notifications/{notices[-1]['id']}/read",
                                 headers={"X-CSRF-Token": token})
        assert read.ok, read.text()
        with page.expect_response(lambda r: "/notifications/count" in r.url):
            page.evaluate("document.dispatchEvent(new CustomEvent('lianfu-visible'))")
        expect(page.locator("#notify-count")).to_have_text(str(unread - 1))
        expect(page.locator("#notify-nav a")).to_have_attribute("aria-current", "page")

        # Mark everything read: no badge left, on this page or the next.
        with page.expect_navigation():
            page.get_by_role("button", name="全部标为已读").click()
        expect(page.get_by_role("status")).to_contain_text("所有通知已标为已读")
        expect(page.locator("#notify-count")).to_have_count(0)
        expect(page.locator(".notice-item.is-unread")).to_have_count(0)
        head.check_page("inbox-all-read-phone.png")

        # Open the newest: the page it points to opens.
        link = notices[0]["link"]
        with page.expect_navigation():
            page.locator(".notice-item").first.locator("button.notice-open").click()
        assert page.url.endswith(link), (page.url, link)
        expect(page.locator("#notify-count")).to_have_count(0)
        head.check_page("inbox-opened-phone.png")
        assert head.errors == [], head.errors
    finally:
        head.close()
