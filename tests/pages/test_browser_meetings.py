"""A joint meeting in a real headless Chromium on a 390 px phone, against a real demo hub: the office plans the half
year's meeting, writes a resolution and marks the meeting held; the resolution's task shows on the page.
Fails on any JavaScript/console error or failed request; screenshots go to ``tests/artifacts/``."""
from __future__ import annotations

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


def test_the_office_holds_a_joint_meeting_on_a_phone(browser: Any, hub_url: str) -> None:
    from playwright.sync_api import expect

    office = Person(browser, hub_url, PHONE)
    try:
        office.log_in("office", "/meetings")
        page = office.page
        expect(page.get_by_role("heading", level=1)).to_have_text("会议")
        office.check_page("meetings-phone.png")
        with page.expect_navigation():
            page.get_by_role("button", name="创建会议").click()
        expect(page.locator("#agenda")).to_contain_text("超期、退单、督办案件")
        first = page.locator("#resolutions .resolution").first
        first.get_by_label("决议", exact=True).fill("各分中心完成下半年安全巡访")
        first.get_by_label("责任方").select_option("node:sc-shanghai")
        first.locator("input[type=date]").fill("2027-01-31")
        page.get_by_label("会议纪要", exact=True).fill("通报了下半年工作情况。")
        with page.expect_navigation():
            page.locator("#mark-held").click()
        expect(page.locator("#meeting-status")).to_have_text("已召开")
        expect(page.locator("#resolutions")).to_contain_text("各分中心完成下半年安全巡访")
        expect(page.locator("#resolutions")).to_contain_text("待办")
        office.check_page("meeting-held-phone.png")
        assert office.errors == []
    finally:
        office.close()
