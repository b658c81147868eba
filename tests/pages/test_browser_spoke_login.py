"""Logging in at a spoke in a real headless Chromium: through the hub, and offline while the hub is down.

One federation per module (a seeded hub process and the enrolled sc-shanghai spoke, both on 127.0.0.1); every test
opens its own browser context on a phone (390 px). Hub and spoke share the host, so one context is one cookie jar
for both, the way a person's browser is. Each test fails on any JavaScript error, console error or failed request,
and saves screenshots of the pages it checks into ``tests/artifacts/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import BROWSER_MARKS, PHONE, chromium_session
from tests.live_federation import Federation

pytestmark = BROWSER_MARKS

ARTIFACTS = Path(__file__).parents[1] / "artifacts"
PASSWORD = "lianfu-demo"
NODE = "sc-shanghai"
TIMEOUT_MS = 15_000

HUB_COOKIE = "lianfu_hub_session"
SPOKE_COOKIE = "lianfu_sc_shanghai_session"
NOT_THIS_NODE = "该账号不属于本节点或其下级节点"
SWITCH_ACCOUNT = "使用其他账号登录"
OFFLINE_NOTICE = "无法连接总部"
OFFLINE_BADGE = "离线登录"
WRONG_PASSWORD = "用户名或密码错误"


# --- fixtures ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fed() -> Iterator[Federation]:
    with Federation(enterprises=10) as federation:
        federation.enroll(NODE)
        federation.start_spoke(NODE)
        yield federation


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium_session(TIMEOUT_MS)


class Watcher:
    """Every JavaScript/console error and failed request of the pages of one browser context."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.expected: list[tuple[int, str]] = []  # (status, URL prefix) a test means to get

    def watch(self, page: Any) -> Any:
        page.on("console", lambda msg: self._on_console(page, msg))
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror on {page.url}: {exc}"))
        page.on("requestfailed", self._on_request_failed)
        return page

    def expect_status(self, status: int, url_prefix: str) -> None:
        """An answer `status` from a URL starting with `url_prefix` is meant: Chromium's console line is no error."""
        self.expected.append((status, url_prefix))

    def _on_console(self, page: Any, msg: Any) -> None:
        if msg.type != "error":
            return
        url = msg.location.get("url") or page.url
        for status, prefix in self.expected:
            if (msg.text.startswith(f"Failed to load resource: the server responded with a status of {status} ")
                    and url.startswith(prefix)):
                return
        self.errors.append(f"console {msg.type}: {msg.text} {msg.location}")

    def _on_request_failed(self, request: Any) -> None:
        # ERR_ABORTED is the browser dropping a load it no longer needs (we navigated on); anything else is real.
        if "ERR_ABORTED" not in (request.failure or ""):
            self.errors.append(f"requestfailed: {request.url} {request.failure}")

    def assert_clean(self) -> None:
        assert self.errors == [], "JavaScript/console errors or failed requests:\n" + "\n".join(self.errors)


@pytest.fixture
def phone(browser: Any) -> Iterator[tuple[Any, Watcher]]:
    """A fresh phone browser context (its own cookie jar, Chinese) and the watcher of its pages."""
    context = browser.new_context(**PHONE, locale="zh-CN")
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    watcher = Watcher()
    try:
        yield context, watcher
    finally:
        context.close()


# --- helpers ----------------------------------------------------------------------------------------------------

def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def assert_no_sideways_scroll(page: Any) -> None:
    width = PHONE["viewport"]["width"]
    assert page.evaluate("window.innerWidth") == width
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{page.url} scrolls sideways: {scroll} > {width} px"


def submit_login(page: Any, username: str, password: str = PASSWORD) -> Any:
    """Fill the login form on the page and send it; the response to the form's POST."""
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="登录", exact=True).click()
    return navigation.value


def user_line(page: Any) -> str:
    return page.locator(".site-header .user > span").inner_text().strip()


def cookie_names(context: Any) -> set[str]:
    return {cookie["name"] for cookie in context.cookies()}


def on(url: str, base: str) -> bool:
    return url == base or url.startswith((base + "/", base + "?"))


# --- tests ------------------------------------------------------------------------------------------------------

def test_office_at_the_hub_is_refused_at_the_spoke_and_switches_account(
        fed: Federation, phone: tuple[Any, Watcher]) -> None:
    from playwright.sync_api import expect

    context, watcher = phone
    hub_url, spoke_url = fed.hub_url, fed.spoke_urls[NODE]

    # The office is logged in at the hub in one tab.
    hub_tab = watcher.watch(context.new_page())
    hub_tab.goto(f"{hub_url}/login", wait_until="load")
    submit_login(hub_tab, "office")
    assert on(hub_tab.url, hub_url) and "/login" not in hub_tab.url, hub_tab.url
    expect(hub_tab.locator(".site-header .user")).to_contain_text("office")
    assert HUB_COOKIE in cookie_names(context)

    # Another tab of the same browser opens the spoke: off to the hub, which knows the office, and back refused.
    tab = watcher.watch(context.new_page())
    watcher.expect_status(403, f"{spoke_url}/auth/callback")
    with tab.expect_response(lambda r: r.url.startswith(f"{hub_url}/oauth/authorize")) as authorize:
        response = tab.goto(f"{spoke_url}/login", wait_until="load")
    assert authorize.value.status in (302, 303), "the hub should answer the authorization at once (office known)"
    assert response is not None and response.status == 403, (response and response.status, tab.url)
    assert tab.url.startswith(f"{spoke_url}/auth/callback?"), tab.url
    assert "error=access_denied" in tab.url
    assert tab.locator("html").get_attribute("lang") == "zh-CN"
    expect(tab.get_by_role("heading", level=1)).to_have_text("登录")
    expect(tab.get_by_role("alert")).to_contain_text(NOT_THIS_NODE)
    switch = tab.get_by_role("link", name=SWITCH_ACCOUNT)
    expect(switch).to_be_visible()
    assert switch.get_attribute("href") == "/login?switch=1"
    expect(tab.get_by_label("密码")).to_have_count(0)
    assert SPOKE_COOKIE not in cookie_names(context), "a refused login must open no session at the spoke"
    expect(tab.locator(".site-header .user")).to_have_count(0)  # nobody is logged in at the spoke
    assert_no_sideways_scroll(tab)
    screenshot(tab, "spoke-login-refused-phone.png")

    # Another account: the hub asks for a password again, though the office is still logged in there.
    with tab.expect_navigation():
        switch.click()
    tab.wait_for_load_state("load")
    assert on(tab.url, hub_url), tab.url
    expect(tab.get_by_role("heading", name="登录")).to_be_visible()
    expect(tab.get_by_label("密码")).to_be_visible()
    expect(tab.get_by_label("密码")).to_have_value("")
    assert_no_sideways_scroll(tab)

    submit_login(tab, "subcenter_sh")
    tab.wait_for_url(re.compile("^" + re.escape(spoke_url) + r"/(\?|$)"))
    expect(tab.get_by_role("heading", level=1)).to_have_text("工作台")  # the spoke's own home page
    expect(tab.locator(".site-header .user")).to_contain_text("subcenter_sh")
    assert OFFLINE_BADGE not in user_line(tab)
    names = cookie_names(context)
    assert {HUB_COOKIE, SPOKE_COOKIE} <= names, names
    tab.goto(f"{spoke_url}/enterprises", wait_until="load")
    expect(tab.get_by_role("heading", level=1)).to_have_text("市外企业名录")
    expect(tab.locator("#roster-rows")).to_be_attached()  # the spoke's own roster (its enterprises come by sync)
    assert_no_sideways_scroll(tab)
    screenshot(tab, "spoke-roster-phone.png")

    # The session at the spoke holds: a reload stays on the roster, logged in.
    tab.reload(wait_until="load")
    assert on(tab.url, f"{spoke_url}/enterprises"), tab.url
    expect(tab.locator(".site-header .user")).to_contain_text("subcenter_sh")
    watcher.assert_clean()


def test_offline_login_at_the_spoke_while_the_hub_is_down(fed: Federation, browser: Any) -> None:
    from playwright.sync_api import expect

    spoke_url = fed.spoke_urls[NODE]
    fed.stop_hub()
    context = None
    try:
        context = browser.new_context(**PHONE, locale="zh-CN")
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        watcher = Watcher()
        tab = watcher.watch(context.new_page())

        # The spoke cannot reach the hub: it shows its own password form with the offline notice.
        response = tab.goto(f"{spoke_url}/login", wait_until="load")
        assert response is not None and response.status == 200
        assert on(tab.url, f"{spoke_url}/login"), tab.url
        assert tab.locator("html").get_attribute("lang") == "zh-CN"
        expect(tab.get_by_role("heading", level=1)).to_have_text("登录")
        expect(tab.get_by_role("status")).to_contain_text(OFFLINE_NOTICE)
        expect(tab.get_by_label("用户名")).to_be_visible()
        expect(tab.get_by_label("密码")).to_be_visible()
        expect(tab.get_by_role("alert")).to_have_count(0)
        assert_no_sideways_scroll(tab)
        screenshot(tab, "spoke-offline-login-phone.png")

        # A wrong password: the Chinese error in the login card above the form, the form again, no session.
        watcher.expect_status(400, f"{spoke_url}/login")
        answer = submit_login(tab, "subcenter_sh", "wrong-password")
        assert answer is not None and answer.status == 400
        assert on(tab.url, f"{spoke_url}/login"), tab.url
        card = tab.locator(".login-card")
        expect(card.get_by_role("alert")).to_have_text(WRONG_PASSWORD)
        expect(card.locator("form")).to_be_visible()
        expect(card.get_by_role("status")).to_contain_text(OFFLINE_NOTICE)
        expect(tab.get_by_label("用户名")).to_have_value("subcenter_sh")
        expect(tab.get_by_label("密码")).to_have_value("")
        assert SPOKE_COOKIE not in cookie_names(context)
        expect(tab.locator(".site-header .user")).to_have_count(0)
        assert_no_sideways_scroll(tab)
        screenshot(tab, "spoke-offline-wrong-password-phone.png")

        # A person below the node (workstation_1) has no password here: refused like a wrong password.
        answer = submit_login(tab, "workstation_1")
        assert answer is not None and answer.status == 400
        expect(tab.locator(".login-card").get_by_role("alert")).to_have_text(WRONG_PASSWORD)
        assert SPOKE_COOKIE not in cookie_names(context)
        expect(tab.locator(".site-header .user")).to_have_count(0)

        # The node's own person gets in, and the header says the session is an offline one.
        submit_login(tab, "subcenter_sh")
        tab.wait_for_load_state("load")
        assert tab.url == f"{spoke_url}/", tab.url
        expect(tab.get_by_role("heading", level=1)).to_have_text("工作台")  # the spoke's home, served offline
        expect(tab.locator(".site-header .user")).to_contain_text("subcenter_sh")
        expect(tab.locator(".site-header .user")).to_contain_text(OFFLINE_BADGE)
        assert SPOKE_COOKIE in cookie_names(context)
        assert HUB_COOKIE not in cookie_names(context)
        tab.goto(f"{spoke_url}/enterprises", wait_until="load")
        expect(tab.get_by_role("heading", level=1)).to_have_text("市外企业名录")
        assert_no_sideways_scroll(tab)
        screenshot(tab, "spoke-offline-roster-phone.png")
        watcher.assert_clean()
    finally:
        try:
            if context is not None:
                context.close()
        finally:
            fed.start_hub()
