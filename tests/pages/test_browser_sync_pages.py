"""The sync pages in a real headless Chromium on a phone: the office's view of every node, a spoke's sync-now.

A seeded hub process and the enrolled sc-shanghai spoke; the spoke's scheduled sync is slowed right down so the
button is what moves the data. Fails on any JavaScript error; screenshots go to ``tests/artifacts/``.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import BROWSER_MARKS, PHONE
from tests.live_federation import Federation
from tests.pages.test_browser_spoke_login import PASSWORD, Watcher, assert_no_sideways_scroll, browser, screenshot  # noqa: F401

pytestmark = BROWSER_MARKS
NODE = "sc-shanghai"


@pytest.fixture(scope="module")
def fed() -> Iterator[Federation]:
    with Federation(enterprises=12, spoke_env={"LIANFU_SYNC_INTERVAL": "3600"}) as federation:
        federation.enroll(NODE)
        federation.start_spoke(NODE)
        yield federation


def log_in(page: Any, username: str) -> None:
    page.fill("#f-username", username)
    page.fill("#f-password", PASSWORD)
    page.click(".login-card button[type=submit]")


def test_a_spoke_syncs_now_from_its_page_and_the_office_sees_it(browser: Any, fed: Federation) -> None:  # noqa: F811
    from playwright.sync_api import expect

    context = browser.new_context(**PHONE, locale="zh-CN")
    watcher = Watcher()
    try:
        page = watcher.watch(context.new_page())
        spoke = fed.spoke_urls[NODE]
        page.goto(f"{spoke}/login?next=/sync")
        log_in(page, "subcenter_sh")  # at the hub's form, then back
        page.wait_for_url(f"{spoke}/sync")
        expect(page.locator("h1")).to_have_text("与总部同步")
        assert_no_sideways_scroll(page)
        screenshot(page, "spoke-sync-phone.png")
        page.click("text=立即同步")
        expect(page.locator("#sync-progress .flash-success")).to_contain_text("同步完成", timeout=30_000)
        expect(page.locator("#sync-status")).not_to_contain_text("从未")
        screenshot(page, "spoke-sync-done-phone.png")
        # The roster now holds the node's slice.
        page.goto(f"{spoke}/enterprises")
        expect(page.locator("#roster-rows")).not_to_contain_text("没有符合条件的企业")

        office = watcher.watch(context.new_page())
        office.goto(f"{fed.hub_url}/login?next=/sync")
        log_in(office, "office")
        office.wait_for_url(f"{fed.hub_url}/sync")
        row = office.locator(f'#sync-nodes tr[data-node="{NODE}"]')
        expect(row).to_contain_text("正常")
        expect(office.locator('#sync-nodes tr[data-node="sc-suzhou"]')).to_contain_text("从未同步")
        assert_no_sideways_scroll(office)
        screenshot(office, "hub-sync-phone.png")
        watcher.assert_clean()
    finally:
        context.close()
