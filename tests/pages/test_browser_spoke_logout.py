"""Logging out at a spoke in a real headless Chromium ends the hub's session too, without a second question.

One federation for the module (a seeded hub process and the enrolled sc-shanghai spoke on 127.0.0.1, one cookie jar
for both, as in a person's browser); the phone's context fails on any JavaScript error, console error or failed
request.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import BROWSER_MARKS, PHONE, chromium_session
from tests.live_federation import Federation
from tests.pages.test_browser_spoke_login import (
    HUB_COOKIE, SPOKE_COOKIE, TIMEOUT_MS, Watcher, assert_no_sideways_scroll, cookie_names, on, screenshot,
    submit_login,
)

pytestmark = BROWSER_MARKS

NODE = "sc-shanghai"


@pytest.fixture(scope="module")
def fed() -> Iterator[Federation]:
    with Federation(enterprises=5) as federation:
        federation.enroll(NODE)
        federation.start_spoke(NODE)
        yield federation


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium_session(TIMEOUT_MS)


def test_logging_out_at_the_spoke_logs_out_at_the_hub_and_the_next_visit_asks_for_the_password(
        fed: Federation, browser: Any) -> None:
    from playwright.sync_api import expect

    hub_url, spoke_url = fed.hub_url, fed.spoke_urls[NODE]
    context = browser.new_context(**PHONE, locale="zh-CN")
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    watcher = Watcher()
    try:
        tab = watcher.watch(context.new_page())
        tab.goto(f"{spoke_url}/login", wait_until="load")
        assert on(tab.url, hub_url), tab.url
        submit_login(tab, "subcenter_sh")
        tab.wait_for_url(re.compile("^" + re.escape(spoke_url) + r"/(\?|$)"))
        expect(tab.locator(".site-header .user")).to_contain_text("subcenter_sh")
        assert {HUB_COOKIE, SPOKE_COOKIE} <= cookie_names(context)

        answers: list[tuple[int, str]] = []
        tab.on("response", lambda response: answers.append((response.status, response.url)))
        with tab.expect_navigation():
            tab.locator(".site-header .logout-form").get_by_role("button", name="退出").click()
        tab.wait_for_load_state("load")

        # Spoke → hub's end-session endpoint → back to the spoke's /login → the hub's password form.
        logout = [(status, url) for status, url in answers if url.startswith(f"{hub_url}/oauth/logout")]
        assert logout and all(status == 303 for status, _ in logout), answers  # never the confirmation page
        assert any(url.startswith(f"{spoke_url}/login") for _, url in answers), answers
        assert on(tab.url, f"{hub_url}/login"), tab.url
        expect(tab.get_by_role("heading", level=1)).to_have_text("登录")
        expect(tab.get_by_label("密码")).to_be_visible()
        expect(tab.get_by_label("密码")).to_have_value("")
        assert HUB_COOKIE not in cookie_names(context) and SPOKE_COOKIE not in cookie_names(context)
        assert_no_sideways_scroll(tab)
        screenshot(tab, "spoke-logout-phone.png")

        # Opening the spoke again: the hub asks for the password, nobody is let straight back in.
        tab.goto(f"{spoke_url}/", wait_until="load")
        assert on(tab.url, f"{hub_url}/login"), tab.url
        expect(tab.get_by_label("密码")).to_be_visible()
        expect(tab.locator(".site-header .user")).to_have_count(0)

        submit_login(tab, "subcenter_sh")
        tab.wait_for_url(re.compile("^" + re.escape(spoke_url) + r"/(\?|$)"))
        expect(tab.locator(".site-header .user")).to_contain_text("subcenter_sh")
        watcher.assert_clean()
    finally:
        context.close()
