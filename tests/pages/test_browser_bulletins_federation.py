"""A warning across real hub and spoke processes, in a real headless Chromium.

The office publishes a warning for the Shanghai sub-center at the hub; after a sync, Shanghai's spoke shows it on
a phone with its banner, and Suzhou's spoke (another sub-center) never receives it. Shanghai acknowledges at its
spoke; after the next sync the office sees who acknowledged, for which node. Fails on any console error;
screenshots go to ``tests/artifacts/``.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import BROWSER_MARKS, DESKTOP, PHONE
from tests.live_federation import Federation
from tests.pages.test_browser_bulletins import BULLETIN_PATH, Person, browser  # noqa: F401

pytestmark = BROWSER_MARKS
TITLE = "汛期防汛安全预警"


@pytest.fixture(scope="module")
def fed() -> Iterator[Federation]:
    with Federation(enterprises=12) as federation:
        for node in ("sc-shanghai", "sc-suzhou"):
            federation.enroll(node)
            federation.start_spoke(node)
        yield federation


def synced(fed: Federation, node: str) -> None:
    run = fed.run_sync(node)
    assert run.returncode == 0 and run.summary is not None, run.output()


def test_a_warning_reaches_only_its_target_spoke_and_its_acknowledgement_comes_back(
        browser: Any, fed: Federation) -> None:  # noqa: F811
    from playwright.sync_api import expect

    office = Person(browser, fed.hub_url, DESKTOP)
    shanghai = Person(browser, fed.spoke_urls["sc-shanghai"], PHONE)
    suzhou = Person(browser, fed.spoke_urls["sc-suzhou"], PHONE)
    try:
        office.log_in("office", "/bulletins/new")
        page = office.page
        page.get_by_label("类型").select_option("warning")
        page.get_by_label("严重程度").select_option("serious")
        page.get_by_label("标题").fill(TITLE)
        page.get_by_label("正文").fill("未来三天有强降雨，请检查厂区排水与仓储防水。")
        page.get_by_text("按节点").click()
        page.get_by_label(re.compile(r"^上海分中心")).check()
        with page.expect_navigation():
            page.get_by_role("button", name="立即发布").click()
        match = BULLETIN_PATH.search(page.url)
        assert match, page.url
        bulletin_path = f"/bulletins/{match.group(1)}"

        synced(fed, "sc-shanghai")
        synced(fed, "sc-suzhou")

        # Shanghai's spoke: the banner on the first page, the warning, the acknowledgement.
        shanghai.log_in("subcenter_sh", "/bulletins")  # through the hub's form and back to the spoke
        phone = shanghai.page
        assert phone.url.startswith(fed.spoke_urls["sc-shanghai"]), phone.url
        banner = phone.locator("#bulletin-banner")
        expect(banner).to_contain_text(TITLE)
        shanghai.check_page("bulletin-spoke-banner-phone.png")
        phone.goto(f"{fed.spoke_urls['sc-shanghai']}{bulletin_path}")
        with phone.expect_navigation():
            phone.get_by_role("button", name="确认收到").click()
        expect(phone.locator(".flash-success")).to_contain_text("已为本节点确认收到")
        expect(phone.locator("#bulletin-banner")).to_have_count(0)
        shanghai.check_page("bulletin-spoke-acknowledged-phone.png")

        # Suzhou's spoke never received it: no banner, not in its list, not found by its address.
        suzhou.log_in("subcenter_sz", "/bulletins")
        other = suzhou.page
        assert other.url.startswith(fed.spoke_urls["sc-suzhou"]), other.url
        expect(other.locator("#bulletin-banner")).to_have_count(0)
        expect(other.locator("main")).not_to_contain_text(TITLE)
        response = other.goto(f"{fed.spoke_urls['sc-suzhou']}{bulletin_path}")
        assert response is not None and response.status == 404
        suzhou.errors.clear()  # the 404 above is the expected answer, not a page error

        # The acknowledgement travels up with Shanghai's next sync; the office sees who and for which node.
        synced(fed, "sc-shanghai")
        page.goto(f"{fed.hub_url}{bulletin_path}")
        expect(page.locator("#ack-status")).to_contain_text("1 / 1 节点已确认")
        expect(page.locator("#node-sc-shanghai")).to_contain_text("subcenter_sh")
        office.check_page("bulletin-acknowledged-from-spoke-desktop.png")
        assert office.errors == [] and shanghai.errors == [] and suzhou.errors == [], \
            office.errors + shanghai.errors + suzhou.errors
    finally:
        office.close()
        shanghai.close()
        suzhou.close()
