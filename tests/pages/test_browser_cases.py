"""A request's whole journey in a real headless Chromium across a real federation.

The workstation head raises it on the ws-demo-1 spoke on a phone; it syncs to the hub, where the office (desktop)
accepts and dispatches it; the criminal-investigation liaison (phone) signs for it and reports back with a document;
the office files it; it syncs back and the workstation head answers the call-back. Every page is checked for
sideways scroll at 390 px and the test fails on any JavaScript/console error; screenshots go to ``tests/artifacts/``.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import BROWSER_MARKS, DESKTOP, PHONE
from tests.live_federation import Federation
from tests.pages.test_browser_spoke_login import TIMEOUT_MS, Watcher, browser, screenshot  # noqa: F401

pytestmark = BROWSER_MARKS
NODE = "ws-demo-1"
PASSWORD = "lianfu-demo"
TITLE = "分包方拖欠劳务费八万五千元"
CASE_PATH = re.compile(r"/cases/([0-9a-f-]{36})$")


@pytest.fixture(scope="module")
def fed() -> Iterator[Federation]:
    with Federation(enterprises=12) as federation:
        federation.enroll(NODE)
        federation.start_spoke(NODE)
        yield federation


def log_in(page: Any, username: str) -> None:
    page.fill("#f-username", username)
    page.fill("#f-password", PASSWORD)
    page.click(".login-card button[type=submit]")


def no_sideways_scroll(page: Any) -> None:
    width = page.evaluate("window.innerWidth")
    scroll = page.evaluate("document.scrollingElement.scrollWidth")
    assert scroll <= width, f"{page.url} scrolls sideways: {scroll} > {width} px"


def new_context(browser: Any, device: dict[str, Any]) -> Any:  # noqa: F811
    context = browser.new_context(**device, locale="zh-CN")
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    return context


def sync(fed: Federation) -> None:
    run = fed.run_sync(NODE)
    assert run.returncode == 0, run.output()


def test_a_request_from_the_workstation_to_filing_and_call_back(browser: Any, fed: Federation) -> None:  # noqa: F811
    from playwright.sync_api import expect

    spoke, hub = fed.spoke_urls[NODE], fed.hub_url
    watcher = Watcher()
    sync(fed)  # the workstation's slice of the roster, so it can choose its enterprise
    phone = new_context(browser, PHONE)
    desk = new_context(browser, DESKTOP)
    liaison = new_context(browser, PHONE)
    try:
        # 1. The workstation head raises the request on the spoke, on a phone.
        ws = watcher.watch(phone.new_page())
        ws.goto(f"{spoke}/login?next=/cases/new")
        log_in(ws, "workstation_1")
        ws.wait_for_url(f"{spoke}/cases/new")
        expect(ws.locator("h1")).to_have_text("提出诉求")
        ws.select_option("#f-category", "economic_dispute")
        expect(ws.locator('select[name="details.dispute_kind"]')).to_be_visible()  # swapped in by htmx
        ws.select_option('select[name="details.dispute_kind"]', "labour")
        ws.fill('input[name="details.amount"]', "八万五")
        ws.select_option("#f-urgency", "urgent")
        ws.fill("#f-description", "分包方拖欠 30 名工人劳务费，工人情绪激动。")
        no_sideways_scroll(ws)
        watcher.expect_status(422, f"{spoke}/cases/new")
        ws.click("button[type=submit] >> text=提交诉求")
        expect(ws.locator("#e-title")).to_have_text("此项必填")
        expect(ws.locator('[id="e-details.amount"]')).to_contain_text("金额")
        no_sideways_scroll(ws)
        screenshot(ws, "case-new-errors-phone.png")
        ws.fill("#f-title", TITLE)
        ws.fill('input[name="details.amount"]', "85000")
        # The workstation's one enterprise is its fixed choice.
        expect(ws.locator("#picker-enterprise_id")).to_contain_text("启东建工集团有限公司上海分公司")
        ws.click("button[type=submit] >> text=提交诉求")
        ws.wait_for_url(CASE_PATH)
        case_id = CASE_PATH.search(ws.url).group(1)  # type: ignore[union-attr]
        expect(ws.locator("h1")).to_have_text(TITLE)
        expect(ws.locator(".case-badges")).to_contain_text("待受理")
        expect(ws.locator(".case-badges")).to_contain_text("紧急")
        no_sideways_scroll(ws)
        screenshot(ws, "case-raised-spoke-phone.png")

        sync(fed)

        # 2. The office takes it in and dispatches it, at the hub on a desktop.
        office = watcher.watch(desk.new_page())
        office.goto(f"{hub}/login?next=/cases")
        log_in(office, "office")
        office.wait_for_url(f"{hub}/cases")
        expect(office.locator("h1")).to_have_text("受理队列")
        office.click(f'tr[data-case="{case_id}"] a')
        office.wait_for_url(f"{hub}/cases/{case_id}")
        office.click(".action-accepted button")
        expect(office.locator(".case-badges")).to_contain_text("已受理")
        expect(office.locator("#f-lead")).to_have_value("economic-crime")  # suggested by the routing table
        office.select_option("#f-lead", "criminal-investigation")
        office.uncheck('.action-dispatched input[value="legal"]')
        office.click(".action-dispatched button[type=submit]")
        expect(office.locator(".case-badges")).to_contain_text("已分派")
        expect(office.locator('.case-units tr[data-unit="criminal-investigation"]')).to_contain_text("主办单位")
        screenshot(office, "case-dispatched-hub-desktop.png")

        # 3. The liaison of criminal investigation signs for it and reports back, on a phone.
        xz = watcher.watch(liaison.new_page())
        xz.goto(f"{hub}/login?next=/cases")
        log_in(xz, "liaison_xz")
        xz.wait_for_url(f"{hub}/cases")
        expect(xz.locator("h1")).to_have_text("本单位案件")
        expect(xz.locator(f'tr[data-case="{case_id}"]')).to_contain_text("等待本单位签收")
        no_sideways_scroll(xz)
        screenshot(xz, "case-unit-queue-phone.png")
        xz.click(f'tr[data-case="{case_id}"] a')
        xz.wait_for_url(f"{hub}/cases/{case_id}")
        xz.click(".action-signed button")
        expect(xz.locator(".case-badges")).to_contain_text("办理中")
        xz.fill("#f-note-reported", "已约谈分包方负责人，约定三日内付清劳务费。")
        xz.set_input_files("#f-files-reported", files=[{"name": "约谈笔录.txt", "mimeType": "text/plain",
                                                        "buffer": "约谈笔录".encode()}])
        xz.click(".action-reported button[type=submit]")
        expect(xz.locator(".case-badges")).to_contain_text("已反馈")
        expect(xz.locator(".case-reports")).to_contain_text("约谈笔录.txt")
        no_sideways_scroll(xz)
        screenshot(xz, "case-reported-phone.png")

        # 4. The office files it once every unit reported.
        office.reload()
        office.click(".action-filed button")
        expect(office.locator(".case-badges")).to_contain_text("已备案")
        screenshot(office, "case-filed-hub-desktop.png")

        sync(fed)

        # 5. Back on the spoke: filed, every report visible, the call-back answered.
        ws.goto(f"{spoke}/cases")
        expect(ws.locator(f'tr[data-case="{case_id}"]')).to_contain_text("已备案")
        no_sideways_scroll(ws)
        screenshot(ws, "case-list-spoke-phone.png")
        ws.goto(f"{spoke}/cases/{case_id}")
        expect(ws.locator(".case-badges")).to_contain_text("已备案")
        expect(ws.locator(".case-reports")).to_contain_text("已约谈分包方负责人")
        expect(ws.locator("#timeline")).to_contain_text("刑侦大队")
        ws.get_by_label("5 · 非常满意").check()
        ws.fill("#f-note-callback", "款项已到账，感谢。")
        ws.click(".action-callback button[type=submit]")
        expect(ws.locator(".case-badges")).to_contain_text("已办结")
        expect(ws.locator(".case-badges")).to_contain_text("满意度 5/5")
        no_sideways_scroll(ws)
        screenshot(ws, "case-callback-spoke-phone.png")

        sync(fed)
        office.reload()
        expect(office.locator(".case-badges")).to_contain_text("已办结")
        watcher.assert_clean()
    finally:
        for context in (phone, desk, liaison):
            context.close()
