"""The first pages in a real headless Chromium against a real hub process.

One hub per module (per xdist worker), seeded with 200 demo enterprises; every test opens
its own browser context (fresh cookies) on a phone (390 px) or a desktop screen. Each test
fails on any JavaScript error, console error or failed request, and saves a screenshot of
every page it visits into ``tests/artifacts/``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from browser import BROWSER_MARKS, DESKTOP, PHONE, UNLABELLED_JS, chromium_session
from live_hub import live_hub

pytestmark = BROWSER_MARKS

ARTIFACTS = Path(__file__).parents[1] / "artifacts"
PASSWORD = "lianfu-demo"
TIMEOUT_MS = 10_000

SEARCH_LABEL = "按名称、拼音首字母或信用代码搜索"
NO_MATCH = "没有符合条件的企业。"
OTHER_CITIES = ("苏州", "昆山", "杭州", "深圳", "北京", "成都", "乌鲁木齐")
MASKED_ID = re.compile(r"\d{6}\*{8}\d{3}[\dX]")
ENTERPRISE_URL = re.compile(r"/enterprises/[0-9a-f-]{36}$")
ROW_LINKS = "#roster-rows tbody td:first-child a"



# --- fixtures ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hub_url() -> Iterator[str]:
    """A real `lianfu hub serve` on a free loopback port, once per module (and xdist worker)."""
    with live_hub(enterprises=200) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium_session(TIMEOUT_MS)


class Tab:
    """A page in its own browser context, with every JavaScript/console error and failed request it saw."""

    def __init__(self, browser: Any, base_url: str, device: dict[str, Any], locale: str) -> None:
        self.base_url = base_url
        self.width: int = device["viewport"]["width"]
        self.context = browser.new_context(**device, locale=locale)
        self.context.set_default_timeout(TIMEOUT_MS)
        self.context.set_default_navigation_timeout(TIMEOUT_MS)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.expected_statuses: set[tuple[int, str]] = set()
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        self.page.on("requestfailed", self._on_request_failed)

    def _on_console(self, msg: Any) -> None:
        if msg.type != "error":
            return
        # Chromium logs every 4xx/5xx answer, the page's own document too; a test may expect one.
        for status, path in self.expected_statuses:
            if (msg.text.startswith(f"Failed to load resource: the server responded with a status of {status} ")
                    and msg.location.get("url") == self.base_url + path):
                return
        self.errors.append(f"console {msg.type}: {msg.text} {msg.location}")

    def _on_request_failed(self, request: Any) -> None:
        # ERR_ABORTED is the browser dropping a load it no longer needs (we navigated on); anything else is real.
        if "ERR_ABORTED" not in (request.failure or ""):
            self.errors.append(f"requestfailed: {request.url} {request.failure}")

    def expect_status(self, status: int, path: str) -> None:
        """The next answer from `path` is meant to be `status`: don't count Chromium's console line as an error."""
        self.expected_statuses.add((status, path))

    def goto(self, path: str) -> Any:
        return self.page.goto(self.base_url + path, wait_until="load")

    def login(self, username: str, password: str = PASSWORD) -> None:
        """Log in and land on the roster these tests are about (a bare /login lands on the home dashboard)."""
        self.goto("/login?next=/enterprises")
        self.page.get_by_label("用户名").fill(username)
        self.page.get_by_label("密码").fill(password)
        with self.page.expect_navigation():
            self.page.get_by_role("button", name="登录", exact=True).click()

    def path(self) -> str:
        return self.page.url.removeprefix(self.base_url)

    def scroll_width(self) -> int:
        return self.page.evaluate("document.documentElement.scrollWidth")

    def assert_no_sideways_scroll(self) -> None:
        assert self.page.evaluate("window.innerWidth") == self.width
        assert self.scroll_width() <= self.width, f"{self.path()} scrolls sideways: {self.scroll_width()} > {self.width} px"

    def assert_all_labelled(self) -> None:
        assert self.page.evaluate(UNLABELLED_JS) == [], f"form controls without a label on {self.path()}"

    def row_names(self) -> list[str]:
        return [name.strip() for name in self.page.locator(ROW_LINKS).all_inner_texts()]

    def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / name), full_page=True)

    def assert_clean(self) -> None:
        assert self.errors == [], "JavaScript/console errors or failed requests:\n" + "\n".join(self.errors)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def open_tab(browser: Any, hub_url: str) -> Iterator[Callable[..., Tab]]:
    """`open_tab(PHONE)` → a fresh browser context and page (Chinese browser unless `locale` says otherwise)."""
    tabs: list[Tab] = []

    def make(device: dict[str, Any] = PHONE, locale: str = "zh-CN") -> Tab:
        tab = Tab(browser, hub_url, device, locale)
        tabs.append(tab)
        return tab

    yield make
    for tab in tabs:
        tab.close()


# --- tests --------------------------------------------------------------------------------------------------------

def test_phone_login_lands_on_scoped_roster(open_tab: Callable[..., Tab]) -> None:
    from playwright.sync_api import expect

    tab = open_tab(PHONE)
    page = tab.page
    tab.goto("/enterprises")
    assert tab.path() == "/login?next=/enterprises"
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    expect(page.get_by_role("heading", name="登录")).to_be_visible()
    tab.assert_no_sideways_scroll()
    tab.assert_all_labelled()
    tab.screenshot("login-phone.png")

    page.get_by_label("用户名").fill("subcenter_sh")
    page.get_by_label("密码").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="登录", exact=True).click()
    assert tab.path() == "/enterprises"
    expect(page.get_by_role("heading", level=1)).to_have_text("市外企业名录")
    expect(page.locator(".site-header")).to_contain_text("subcenter_sh")
    tab.assert_no_sideways_scroll()
    tab.assert_all_labelled()
    tab.screenshot("roster-phone.png")

    # Only the Shanghai sub-center's enterprises (its own and its workstation's), on every page of the list.
    names: list[str] = []
    for _ in range(20):
        shown = tab.row_names()
        assert shown, f"an empty roster page at {tab.path()}"
        names += shown
        next_page = page.get_by_role("link", name="下一页")
        if next_page.count() == 0:
            break
        with page.expect_navigation():
            next_page.click()
        tab.assert_no_sideways_scroll()
    outside = [n for n in names if not n.endswith("上海分公司") or any(city in n for city in OTHER_CITIES)]
    assert outside == [], f"enterprises outside sc-shanghai's scope: {outside[:5]}"
    assert "启东建工集团有限公司上海分公司" in names  # the ws-demo-1 host is under sc-shanghai
    tab.assert_clean()


def _search(tab: Tab, term: str, *, type_it: bool) -> Any:
    """Type `term` into the search box and wait until htmx has swapped in the answer; return the response."""
    page = tab.page
    page.evaluate("""() => {
        window.__settled = 0;
        if (!window.__listening) {
            window.__listening = true;
            document.body.addEventListener('htmx:afterSettle', () => { window.__settled += 1; });
        }
    }""")
    box = page.get_by_label(SEARCH_LABEL)
    with page.expect_response(lambda r: r.request.method == "GET" and "/enterprises?" in r.url
                              and f"q={term}" in _unquote(r.url)) as answer:
        if type_it:
            box.clear()  # one input event: an htmx request for q= the debounce folds into the next
            box.press_sequentially(term, delay=40)
        else:
            box.fill(term)
    page.wait_for_function("() => window.__settled > 0")
    return answer.value


def _unquote(url: str) -> str:
    from urllib.parse import unquote_plus

    return unquote_plus(url)


def _assert_whole_roster(tab: Tab, term: str) -> None:
    from playwright.sync_api import expect

    page = tab.page
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator(".site-header")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("市外企业名录")
    expect(page.get_by_label(SEARCH_LABEL)).to_have_value(term)
    names = tab.row_names()
    assert names and all(term in n for n in names), names


def test_search_as_you_type_swaps_the_rows(open_tab: Callable[..., Tab]) -> None:
    from playwright.sync_api import expect

    tab = open_tab(PHONE)
    page = tab.page
    tab.login("subcenter_sh")
    assert tab.path() == "/enterprises"
    # The "Searching…" indicator is only shown while a request runs.
    expect(page.locator("#roster-busy")).to_be_hidden()

    # Pinyin initials of 船舶重工, typed key by key.
    response = _search(tab, "cbzg", type_it=True)
    assert response.status == 200
    request_headers = response.request.all_headers()
    assert request_headers.get("hx-request") == "true"
    body = response.text()
    assert "<html" not in body.lower() and 'id="roster-rows"' in body
    assert "q=cbzg" in page.url  # hx-push-url: the search is in the address bar, so reload and back work
    names = tab.row_names()
    assert names and all("船舶重工" in n for n in names), names
    assert all(n.endswith("上海分公司") for n in names), names
    expect(page.locator("#roster-busy")).to_be_hidden()
    tab.assert_no_sideways_scroll()
    tab.screenshot("roster-search-pinyin-phone.png")

    # A Chinese fragment.
    _search(tab, "海洋", type_it=False)
    assert "q=海洋" in _unquote(page.url)
    names = tab.row_names()
    assert names and all("海洋" in n for n in names), names

    # A term that matches nothing.
    response = _search(tab, "zzqqxx", type_it=False)
    assert "<html" not in response.text().lower()
    expect(page.locator("#roster-rows")).to_contain_text(NO_MATCH)
    assert tab.row_names() == []
    assert "q=zzqqxx" in page.url
    tab.assert_no_sideways_scroll()
    tab.screenshot("roster-search-empty-phone.png")

    # Back and forward between searches: with no htmx history cache the page is loaded afresh, and it must be
    # the whole page (header, search box, rows), never the bare rows fragment.
    page.go_back()
    page.wait_for_url(re.compile(r"q=%E6%B5%B7%E6%B4%8B"))
    _assert_whole_roster(tab, "海洋")
    tab.screenshot("roster-back-phone.png")

    # From an enterprise back to the search it came from (whose rows htmx fetched as a fragment): the browser's
    # own history and cache must bring back the whole page too.
    _search(tab, "船舶", type_it=False)
    with page.expect_navigation():
        page.locator(ROW_LINKS).first.click()
    assert ENTERPRISE_URL.search(tab.path())
    page.go_back()
    page.wait_for_url(re.compile(r"q=%E8%88%B9%E8%88%B6"))
    _assert_whole_roster(tab, "船舶")
    # And once more back, to the search before it (a history entry htmx pushed in an earlier document).
    page.go_back()
    page.wait_for_url(re.compile(r"q=%E6%B5%B7%E6%B4%8B"))
    _assert_whole_roster(tab, "海洋")

    # The pushed URL is a real page: loading it directly shows the same answer as a whole page.
    tab.goto("/enterprises?q=cbzg")
    expect(page.get_by_label(SEARCH_LABEL)).to_have_value("cbzg")
    names = tab.row_names()
    assert names and all("船舶重工" in n for n in names), names
    tab.assert_clean()


def test_enterprise_detail_masks_id_numbers_on_phone(open_tab: Callable[..., Tab]) -> None:
    from playwright.sync_api import expect

    tab = open_tab(PHONE)
    page = tab.page
    tab.login("subcenter_sh")
    first = page.locator(ROW_LINKS).first
    name = first.inner_text().strip()
    with page.expect_navigation():
        first.click()
    assert ENTERPRISE_URL.search(tab.path()), tab.path()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    expect(page.get_by_role("heading", name="人员")).to_be_visible()
    id_numbers = [t.strip() for t in page.locator("td[data-label='身份证号']").all_inner_texts()]
    assert id_numbers, "the demo enterprise has people"
    for id_number in id_numbers:
        assert MASKED_ID.fullmatch(id_number), f"ID number not masked for the sub-center: {id_number!r}"
    tab.assert_no_sideways_scroll()
    tab.screenshot("enterprise-phone.png")

    # An enterprise of another sub-center (found by the office) is not there for Shanghai: a 404 page, not a 500.
    office = open_tab(DESKTOP)
    office.login("office")
    office.goto("/enterprises?q=苏州")
    suzhou = office.page.locator(ROW_LINKS).first.get_attribute("href")
    assert suzhou and ENTERPRISE_URL.search(suzhou), suzhou
    office.assert_clean()
    tab.expect_status(404, suzhou)
    response = tab.goto(suzhou)
    assert response is not None and response.status == 404
    expect(page.locator("main h1")).to_have_text("未找到")
    expect(page.locator("main")).not_to_contain_text("苏州分公司")
    tab.assert_no_sideways_scroll()
    tab.screenshot("enterprise-not-found-phone.png")
    tab.assert_clean()


def test_english_is_chosen_and_remembered(open_tab: Callable[..., Tab]) -> None:
    from playwright.sync_api import expect

    tab = open_tab(PHONE)  # a Chinese browser: English only because the user asked for it
    page = tab.page
    tab.login("subcenter_sh")
    tab.goto("/enterprises?lang=en")
    assert page.locator("html").get_attribute("lang") == "en"
    expect(page.get_by_role("heading", level=1)).to_have_text("Enterprise roster")
    tab.assert_no_sideways_scroll()
    tab.assert_all_labelled()
    tab.screenshot("roster-en-phone.png")

    # The next navigations carry no ?lang=: the choice is remembered.
    with page.expect_navigation():
        page.locator(ROW_LINKS).first.click()
    assert page.locator("html").get_attribute("lang") == "en"
    expect(page.get_by_role("heading", name="People")).to_be_visible()
    tab.screenshot("enterprise-en-phone.png")
    tab.goto("/enterprises")
    expect(page.get_by_role("heading", level=1)).to_have_text("Enterprise roster")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()

    # And back to Chinese through the header's language link.
    with page.expect_navigation():
        page.get_by_role("link", name="中文").click()
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    expect(page.get_by_role("heading", level=1)).to_have_text("市外企业名录")
    tab.assert_clean()


def test_desktop_office_sees_every_node(open_tab: Callable[..., Tab]) -> None:
    from playwright.sync_api import expect

    tab = open_tab(DESKTOP)
    page = tab.page
    tab.login("office")
    assert tab.path() == "/enterprises"
    expect(page.locator(".site-header")).to_contain_text("office")
    names = tab.row_names()
    assert len(names) == 30
    assert any("苏州" in n or "昆山" in n for n in names), names
    assert any("上海" in n for n in names), names
    nodes = set(page.locator("#roster-rows td[data-label='所属节点']").all_inner_texts())
    assert len(nodes) >= 2, nodes
    # On a desktop the roster is a real table with its column headings.
    expect(page.get_by_role("columnheader", name="企业", exact=True)).to_be_visible()
    tab.assert_no_sideways_scroll()
    tab.assert_all_labelled()
    tab.screenshot("roster-office-desktop.png")
    tab.assert_clean()


def test_login_without_csrf_token_is_refused(open_tab: Callable[..., Tab]) -> None:
    from playwright.sync_api import expect

    tab = open_tab(PHONE)
    page = tab.page
    tab.goto("/login")  # the browser now holds the CSRF cookie

    # A POST with the cookie but without the form's token (what a cross-site form would send).
    refused = page.request.post(tab.base_url + "/login", form={"username": "office", "password": PASSWORD, "next": "/"},
                                headers={"Accept": "text/html", "Accept-Language": "zh-CN"}, max_redirects=0)
    try:
        assert refused.status == 403
        assert "表单已过期" in refused.text()
        assert not any(c["name"].endswith("_session") for c in tab.context.cookies())
    finally:
        refused.dispose()

    # The same through the real form, with its hidden token removed: a page that says what happened.
    page.evaluate("document.querySelector('input[name=csrf_token]').remove()")
    tab.expect_status(403, "/login")
    page.get_by_label("用户名").fill("office")
    page.get_by_label("密码").fill(PASSWORD)
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="登录", exact=True).click()
    assert navigation.value.status == 403
    expect(page.locator("main")).to_contain_text("表单已过期")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    tab.assert_no_sideways_scroll()
    tab.screenshot("csrf-refused-phone.png")

    # Not logged in.
    tab.goto("/enterprises")
    assert tab.path() == "/login?next=/enterprises"
    tab.assert_clean()


def test_log_out_from_the_header(open_tab: Callable[..., Tab]) -> None:
    from playwright.sync_api import expect

    tab = open_tab(PHONE)
    page = tab.page
    tab.login("subcenter_sh")
    assert tab.path() == "/enterprises"
    log_out = page.locator(".site-header").get_by_role("button", name="退出")
    expect(log_out).to_be_visible()
    # Readable on the blue header: not drawn in the header's own colour.
    colours = page.evaluate("""(button) => [getComputedStyle(button).color,
                                            getComputedStyle(document.querySelector('.site-header')).backgroundColor]""",
                            log_out.element_handle())
    assert colours[0] != colours[1], colours
    with page.expect_navigation():
        log_out.click()
    assert tab.path() == "/login"
    expect(page.get_by_role("heading", name="登录")).to_be_visible()
    tab.screenshot("logged-out-phone.png")

    tab.goto("/enterprises")
    assert tab.path() == "/login?next=/enterprises"
    tab.assert_clean()


def test_the_office_keeps_the_roster_on_a_phone_add_edit_people_leave_and_a_look_in_full(
        open_tab: Callable[..., Tab]) -> None:
    """The roster's forms on a 390 px phone: an enterprise added (a wrong credit code first, told why in Chinese), a
    person added with masked numbers on the enterprise's page, marked as having left, and one look in full."""
    from datetime import date

    from playwright.sync_api import expect

    from common.validation import make_credit_code, make_id_number

    tab = open_tab(PHONE)
    page = tab.page
    tab.login("office")
    with page.expect_navigation():
        page.get_by_role("link", name="添加企业").click()
    assert tab.path() == "/enterprises/new"
    tab.assert_no_sideways_scroll()
    tab.assert_all_labelled()
    page.get_by_label("企业名称").fill("启东手机录入建设有限公司")
    page.get_by_label("统一社会信用代码").fill("91310115MA1K00000A")
    page.get_by_label("行政区划代码").fill("310115")
    page.get_by_label("联系人").fill("吴经理")
    page.get_by_label("联系电话").fill("13755556666")
    tab.expect_status(422, "/enterprises/new")
    with page.expect_navigation():
        page.get_by_role("button", name="加入名册").click()
    expect(page.locator(".flash-error")).to_contain_text("未保存")
    expect(page.locator("#e-credit_code")).to_be_visible()
    tab.screenshot("roster-enterprise-form-error-phone.png")
    page.get_by_label("统一社会信用代码").fill(make_credit_code("9", "1", "310115", "66000001"))
    page.get_by_label("重点企业").check()
    with page.expect_navigation():
        page.get_by_role("button", name="加入名册").click()
    assert ENTERPRISE_URL.search(tab.path()), tab.path()
    expect(page.get_by_role("heading", level=1)).to_have_text("启东手机录入建设有限公司")
    expect(page.locator("dl.meta")).to_contain_text("137****6666")
    expect(page.locator("dl.meta")).not_to_contain_text("13755556666")
    enterprise_path = tab.path()

    with page.expect_navigation():
        page.get_by_role("link", name="添加人员").click()
    tab.assert_no_sideways_scroll()
    tab.assert_all_labelled()
    number = make_id_number("320681", date(1988, 8, 8), 456)
    page.get_by_label("姓名").fill("孙八")
    page.get_by_label("职务").fill("安全员")
    page.get_by_label("身份证号").fill(number)
    page.get_by_label("手机号", exact=True).fill("13533334444")
    tab.screenshot("roster-person-form-phone.png")
    with page.expect_navigation():
        page.get_by_role("button", name="添加该人员").click()
    assert tab.path() == enterprise_path + "#people"
    people = page.locator("#people + p + .table-wrap")
    expect(people).to_contain_text("孙八")
    expect(people).to_contain_text(number[:6] + "*" * 8 + number[-4:])
    assert number not in page.content() and "13533334444" not in page.content()
    tab.assert_no_sideways_scroll()
    tab.screenshot("roster-enterprise-people-phone.png")

    with page.expect_navigation():
        page.locator("tr", has_text="孙八").get_by_role("link", name="编辑").click()
    page.get_by_label("已离职").check()
    with page.expect_navigation():
        page.get_by_role("button", name="保存修改").click()
    expect(page.locator("details.former-staff summary")).to_have_text("已离职人员（1）")
    page.locator("details.former-staff summary").click()
    former = page.locator("details.former-staff tr", has_text="孙八")
    expect(former).to_contain_text("离职")

    with page.expect_navigation():
        former.get_by_role("link", name="查看完整信息").click()
    tab.assert_no_sideways_scroll()
    tab.assert_all_labelled()
    assert number not in page.content()
    page.get_by_label("事由").fill("核实人员身份")
    with page.expect_navigation():
        page.get_by_role("button", name="查看完整信息").click()
    expect(page.locator("#revealed-id_number")).to_have_text(number)
    expect(page.locator("#revealed-phone")).to_have_text("13533334444")
    expect(page.locator(".flash-info")).to_contain_text("审计")
    tab.screenshot("roster-reveal-phone.png")
    tab.assert_clean()
