"""The office keeps its units and nodes on a 390 px phone, in a real headless Chromium against a real hub.

The office opens "单位管理" from the menu, sees each unit with its liaison officers, is told in Chinese next to the
field why an id is refused, adds a police station that then takes the last place in the list, and moves it up. Then
"节点管理": the node tree by name with its statuses and last sync; "申请暂停" on a sub-center leads to the existing
review, where the office approves it, and the node page shows the sub-center suspended. The test fails on sideways
scroll, unlabelled fields or any JavaScript error; screenshots go to ``tests/artifacts/``.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import BROWSER_MARKS, PHONE, chromium_session
from tests.live_hub import live_hub
from tests.pages.test_browser_audit import Person

pytestmark = BROWSER_MARKS
TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def hub_url() -> Iterator[str]:
    with live_hub(enterprises=5) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium_session(TIMEOUT_MS)


def test_the_office_keeps_units_and_nodes_on_a_phone(browser: Any, hub_url: str) -> None:
    from playwright.sync_api import expect

    office = Person(browser, hub_url, PHONE)
    page = office.page
    try:
        # 1. The menu leads to the units, in their order, each with its liaison officers.
        office.log_in("office", "/")
        with page.expect_navigation():
            page.locator(".site-nav").get_by_role("link", name="管理", exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text("管理")
        office.check_page("admin-index-phone.png")
        with page.expect_navigation():
            page.locator("main").get_by_role("link", name="单位管理").click()
        assert page.url.endswith("/admin/units")
        expect(page.get_by_role("heading", level=1)).to_have_text("警种部门与派出所")
        cards = page.locator("li.unit-card")
        expect(cards.first.locator(".unit-name")).to_have_text("指挥中心")
        count = cards.count()
        xz = page.locator("#unit-criminal-investigation")
        expect(xz.locator("li.liaison")).to_contain_text("刑侦大队联络员")
        expect(xz.locator("li.liaison")).to_contain_text("liaison_xz")

        # 2. A refused id is explained next to the field; nothing is added.
        page.locator("#f-id").fill("binhai")
        page.locator("#f-name").fill("滨海派出所")
        with page.expect_navigation():
            page.get_by_role("button", name="添加派出所").click()
        expect(page.locator("#e-id")).to_contain_text("派出所编号须以 ps- 开头")
        expect(page.locator("#f-name")).to_have_value("滨海派出所")
        expect(cards).to_have_count(count)
        # The refusal's own 422 is the one message the console may hold.
        assert all("status of 422" in e for e in office.errors), office.errors
        office.errors.clear()

        # 3. A good one is added last, then moved one place up.
        page.locator("#f-id").fill("ps-binhai")
        page.locator("#f-name_en").fill("Binhai Police Station")
        with page.expect_navigation():
            page.get_by_role("button", name="添加派出所").click()
        expect(cards).to_have_count(count + 1)
        expect(cards.last).to_have_attribute("data-unit", "ps-binhai")
        expect(cards.last.locator(".unit-name")).to_have_text("滨海派出所")
        with page.expect_navigation():
            page.locator("#unit-ps-binhai").get_by_role("button", name="上移").click()
        expect(cards.nth(count - 1)).to_have_attribute("data-unit", "ps-binhai")
        office.check_page("admin-units-phone.png")

        # 4. The nodes: by name, with status and last sync; a suspension asked for goes to the review.
        with page.expect_navigation():
            page.locator(".site-nav").get_by_role("link", name="管理", exact=True).click()
        with page.expect_navigation():
            page.locator("main").get_by_role("link", name="节点管理").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("节点管理")
        suzhou = page.locator("tr[data-node='sc-suzhou']")
        expect(suzhou.locator(".node-name")).to_have_text("苏州分中心")
        expect(suzhou.locator(".node-status")).to_contain_text("运行中")
        expect(suzhou.locator(".node-sync")).to_contain_text("从未同步")
        assert "sc-suzhou" not in page.locator("main").inner_text()
        office.check_page("admin-nodes-phone.png")
        with page.expect_navigation():
            suzhou.get_by_role("link", name="申请暂停").click()
        expect(page.locator("#f-kind")).to_have_value("suspend")
        expect(page.locator("#f-target_node")).to_have_value("sc-suzhou")
        page.get_by_label("申请理由").fill("长期未开展工作，暂停整改")
        with page.expect_navigation():
            page.get_by_role("button", name="提交审核").click()
        assert re.search(r"/applications/[0-9a-f-]{36}$", page.url), page.url
        page.get_by_label("批准", exact=True).check()
        with page.expect_navigation():
            page.get_by_role("button", name="提交审批结果").click()

        page.goto(f"{hub_url}/admin/nodes")
        expect(suzhou.locator(".node-status")).to_contain_text("已暂停")
        expect(suzhou.get_by_role("link", name="申请恢复")).to_be_visible()
        office.check_page("admin-nodes-suspended-phone.png")
        assert office.errors == [], office.errors
    finally:
        office.close()
