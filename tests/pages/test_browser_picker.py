"""The enterprise picker in a real headless Chromium on a phone (390 px): a sub-center head types the pinyin
initials of a name into the case form's picker, tells the matches apart by credit code and region, picks one and
raises a case for it; the same without JavaScript. Screenshots go to ``tests/artifacts/``."""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.browser import BROWSER_MARKS, PHONE, chromium_session
from tests.live_hub import live_hub
from tests.pages.test_browser_pages import TIMEOUT_MS, Tab

pytestmark = BROWSER_MARKS

HOST = "启东建工集团有限公司上海分公司"  # the demo's ws-demo-1 host, under sc-shanghai
CASE_URL = re.compile(r".*/cases/[0-9a-f-]{36}$")
CREDIT_CODE = re.compile(r"[0-9A-HJ-NPQRTUWXY]{18}")


@pytest.fixture(scope="module")
def hub_url() -> Iterator[str]:
    with live_hub(enterprises=80) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium_session(TIMEOUT_MS)


@pytest.fixture
def open_tab(browser: Any, hub_url: str) -> Iterator[Callable[..., Tab]]:
    tabs: list[Tab] = []

    def make(**options: Any) -> Tab:
        tab = Tab(browser, hub_url, {**PHONE, **options}, "zh-CN")  # options: e.g. JavaScript switched off
        tabs.append(tab)
        return tab

    yield make
    for tab in tabs:
        tab.close()


def log_in(tab: Tab, username: str, next_path: str) -> None:
    tab.goto(f"/login?next={next_path}")
    tab.page.get_by_label("用户名").fill(username)
    tab.page.get_by_label("密码").fill("lianfu-demo")
    with tab.page.expect_navigation():
        tab.page.get_by_role("button", name="登录", exact=True).click()


def fill_case(page: Any, title: str) -> None:
    page.select_option("#f-category", "consultation")
    page.fill("#f-title", title)
    page.fill("#f-description", "咨询境外用工备案手续。")


def test_typing_initials_into_the_picker_and_raising_a_case_for_the_pick(open_tab: Callable[..., Tab]) -> None:
    from playwright.sync_api import expect

    tab = open_tab()
    page = tab.page
    log_in(tab, "subcenter_sh", "/cases/new")
    page.wait_for_url(re.compile(r".*/cases/new$"))
    expect(page.locator("#picker-results-enterprise_id")).to_contain_text("尚未选择")
    box = page.locator("#f-enterprise_q")
    with page.expect_response(lambda r: "/enterprises/picker" in r.url and "jg" in r.url):
        box.press_sequentially("jg", delay=80)  # typed, as a person does: 建工 by its initials
    options = page.locator("#picker-results-enterprise_id .picker-option")
    expect(options.filter(has_text=HOST)).to_have_count(1)
    assert options.count() <= 20
    for text in options.all_inner_texts():
        assert CREDIT_CODE.search(text) and "上海市" in text, text  # told apart by code and region; its subtree only
    tab.assert_no_sideways_scroll()
    tab.assert_all_labelled()
    tab.screenshot("picker-typed-phone.png")

    options.filter(has_text=HOST).locator("input").check()
    # A new search keeps the one chosen.
    with page.expect_response(lambda r: "/enterprises/picker" in r.url and "qdjg" in r.url):
        box.fill("qdjg")
    expect(page.locator("#picker-results-enterprise_id input[name=enterprise_id]:checked")).to_have_count(1)
    expect(page.locator("#picker-results-enterprise_id .picker-option:has(input:checked)")).to_contain_text(HOST)
    fill_case(page, "境外用工备案咨询")
    with page.expect_navigation():
        page.get_by_role("button", name="提交诉求").click()
    page.wait_for_url(CASE_URL)
    expect(page.locator("h1")).to_have_text("境外用工备案咨询")
    expect(page.locator("main")).to_contain_text(HOST)
    tab.assert_no_sideways_scroll()
    tab.screenshot("picker-case-raised-phone.png")
    tab.assert_clean()


def test_the_picker_without_javascript_and_preset_from_a_link(open_tab: Callable[..., Tab], hub_url: str) -> None:
    from playwright.sync_api import expect

    tab = open_tab(java_script_enabled=False)
    page = tab.page
    log_in(tab, "subcenter_sh", "/cases/new")
    page.wait_for_url(re.compile(r".*/cases/new$"))
    page.fill("#f-enterprise_q", "qidongjiangong")
    with page.expect_navigation():
        page.get_by_role("button", name="查找", exact=True).click()  # the picker's own GET form reloads the page
    assert "enterprise_q=qidongjiangong" in page.url and "csrf_token" not in page.url
    option = page.locator("#picker-results-enterprise_id .picker-option").filter(has_text=HOST)
    expect(option).to_have_count(1)
    enterprise_id = option.locator("input").get_attribute("value")
    option.locator("input").check()
    fill_case(page, "无脚本提交的咨询")
    with page.expect_navigation():
        page.get_by_role("button", name="提交诉求").click()
    expect(page.locator("h1")).to_have_text("无脚本提交的咨询")
    expect(page.locator("main")).to_contain_text(HOST)
    tab.screenshot("picker-no-js-case-phone.png")

    # A link that names the enterprise (from its page or a visit) shows it chosen.
    tab.goto(f"/cases/new?enterprise_id={enterprise_id}")
    chosen = page.locator("#picker-results-enterprise_id input[name=enterprise_id]:checked")
    expect(chosen).to_have_value(enterprise_id)
    expect(page.locator("#picker-results-enterprise_id")).to_contain_text(HOST)
    tab.assert_no_sideways_scroll()
    tab.screenshot("picker-preset-phone.png")
    tab.assert_clean()
