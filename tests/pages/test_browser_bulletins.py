"""A warning's journey in a real headless Chromium against a real hub process.

The office publishes a warning for the Shanghai sub-center on a desktop screen; the sub-center head, on a 390 px
phone, sees the banner on the page they land on, opens the warning and acknowledges it; the banner is gone and the
office sees who acknowledged. Until bulletins sync, both people use the hub; a test across hub and spoke follows.
Every page is checked for sideways scroll and unlabelled fields, the test fails on any JavaScript/console error or
failed request, and screenshots go to ``tests/artifacts/``.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import BROWSER_MARKS, DESKTOP, PHONE, Person, chromium_session
from tests.live_hub import live_hub

pytestmark = BROWSER_MARKS

TIMEOUT_MS = 10_000
TITLE = "寒潮大风蓝色预警"
BULLETIN_PATH = re.compile(r"/bulletins/([0-9a-f-]{36})")



@pytest.fixture(scope="module")
def hub_url() -> Iterator[str]:
    with live_hub(enterprises=20) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium_session(TIMEOUT_MS)


def test_the_office_publishes_and_shanghai_acknowledges_on_a_phone(browser: Any, hub_url: str) -> None:
    from playwright.sync_api import expect

    office, head = Person(browser, hub_url, DESKTOP), Person(browser, hub_url, PHONE)
    try:
        # 1. The office drafts the warning at its desk and publishes it to the Shanghai sub-center.
        office.log_in("office", "/bulletins/new")
        page = office.page
        expect(page.get_by_role("heading", level=1)).to_have_text("发布新信息")
        page.get_by_label("类型").select_option("warning")
        page.get_by_label("严重程度").select_option("serious")
        page.get_by_label("标题").fill(TITLE)
        page.get_by_label("正文").fill("预计明日起气温下降 8 至 10 摄氏度，请做好工地防风加固。")
        page.get_by_text("按节点").click()
        page.get_by_label(re.compile(r"^上海分中心")).check()
        office.check_page("bulletin-new-desktop.png")
        with page.expect_navigation():
            page.get_by_role("button", name="立即发布").click()
        match = BULLETIN_PATH.search(page.url)
        assert match, page.url
        bulletin_path = f"/bulletins/{match.group(1)}"
        expect(page.locator(".flash-success")).to_contain_text("信息已发布")
        expect(page.locator("#ack-status")).to_contain_text("0 / 1 节点已确认")
        office.check_page("bulletin-published-desktop.png")

        # 2. The sub-center head logs in on a phone: the banner is on the first page.
        head.log_in("subcenter_sh", "/enterprises")
        phone = head.page
        banner = phone.locator("#bulletin-banner")
        expect(banner).to_be_visible()
        expect(banner).to_contain_text(TITLE)
        expect(banner).to_contain_text("严重")
        head.check_page("bulletin-banner-phone.png")
        with phone.expect_navigation():
            banner.get_by_role("link", name=TITLE).click()
        assert phone.url.endswith(bulletin_path)
        head.check_page("bulletin-detail-phone.png")

        # 3. Acknowledge: the page says so and the banner is gone, here and on other pages.
        with phone.expect_navigation():
            phone.get_by_role("button", name="确认收到").click()
        expect(phone.locator(".flash-success")).to_contain_text("已为本节点确认收到")
        expect(phone.locator("#bulletin-banner")).to_have_count(0)
        phone.goto(f"{hub_url}/bulletins")
        expect(phone.locator("#bulletin-banner")).to_have_count(0)
        expect(phone.locator(".bulletin-item").filter(has_text=TITLE)).to_contain_text("已确认")
        head.check_page("bulletin-list-phone.png")

        # 4. The office sees who acknowledged, and when.
        page.goto(f"{hub_url}{bulletin_path}")
        expect(page.locator("#ack-status")).to_contain_text("1 / 1 节点已确认")
        expect(page.locator("#node-sc-shanghai")).to_contain_text("subcenter_sh")
        office.check_page("bulletin-acknowledged-desktop.png")
        assert office.errors == [] and head.errors == [], office.errors + head.errors
    finally:
        office.close()
        head.close()
