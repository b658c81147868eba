"""The office follows one enterprise's history on a 390 px phone, in a real headless Chromium against a real hub.

The office edits an enterprise's address many times, opens the enterprise's page, follows its "变更记录" link to the
audit trail filtered to that enterprise, reads the entries as cards (Chinese action labels, Beijing time, a link back
to the enterprise), loads the rest with "加载更多" (htmx, no entry twice), then filters by actor and by a date range
with the form. The test fails on sideways scroll, unlabelled fields or any JavaScript error; screenshots go to
``tests/artifacts/``.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.browser import BROWSER_MARKS, PHONE, Person, chromium_session
from tests.live_hub import live_hub

pytestmark = BROWSER_MARKS

TIMEOUT_MS = 10_000
EDITS = 55  # more than one page of the trail (50)
ENTERPRISE_PATH = re.compile(r"/enterprises/([0-9a-f-]{36})$")


@pytest.fixture(scope="module")
def hub_url() -> Iterator[str]:
    with live_hub(enterprises=5) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium_session(TIMEOUT_MS)


def test_the_office_follows_an_enterprises_history_on_a_phone(browser: Any, hub_url: str) -> None:
    from playwright.sync_api import expect

    office = Person(browser, hub_url, PHONE)
    page = office.page
    try:
        # 1. The office opens an enterprise of the roster and changes its address many times (the API, same session).
        office.log_in("office", "/enterprises")
        with page.expect_navigation():
            page.locator("#roster-rows a[href^='/enterprises/']").first.click()
        match = ENTERPRISE_PATH.search(page.url)
        assert match, page.url
        enterprise_id = match.group(1)
        token = page.evaluate("JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']")
        for n in range(EDITS):
            done = office.context.request.patch(f"{hub_url}/api/v1/enterprises/{enterprise_id}",
                                                data={"address": f"浦东新区审计路{n + 1}号"},
                                                headers={"X-CSRF-Token": token})
            assert done.status == 200, done.text()

        # 2. Its page links its own history; the audit trail opens filtered to it, as cards.
        page.reload()
        history = page.get_by_role("link", name="变更记录")
        expect(history).to_be_visible()
        with page.expect_navigation():
            history.click()
        assert page.url.endswith(f"/audit?entity_id={enterprise_id}")
        expect(page.get_by_role("heading", level=1)).to_have_text("审计记录")
        rows = page.locator("tr.audit-entry")
        expect(rows).to_have_count(50)
        first = rows.first
        assert first.evaluate("el => getComputedStyle(el).display") == "block"  # a card, not a table row
        expect(first.locator("td[data-label='操作']")).to_have_text("修改")
        expect(first.locator("td[data-label='详情']")).to_contain_text(f"浦东新区审计路{EDITS}号")
        expect(first.locator("td[data-label='操作人']")).to_contain_text("office")
        # Beijing time, to the minute of now.
        shown = first.locator("td[data-label='时间']").inner_text().strip()
        now = datetime.now(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None)
        assert abs(datetime.strptime(shown, "%Y-%m-%d %H:%M:%S") - now) < timedelta(minutes=5), shown
        links = page.locator("tr.audit-entry a.audit-entity")
        assert set(links.evaluate_all("els => els.map(a => a.getAttribute('href'))")) == {f"/enterprises/{enterprise_id}"}
        office.check_page("audit-history-phone.png")

        # 3. "加载更多" appends the rest in place (htmx): every entry once, and no more link at the end.
        more = page.get_by_role("link", name="加载更多")
        expect(more).to_be_visible()
        more.click()
        expect(page.locator("#audit-more")).to_have_count(0)
        ids = rows.evaluate_all("els => els.map(tr => tr.dataset.entry)")
        assert len(ids) == len(set(ids)) >= EDITS
        assert page.url.endswith(f"/audit?entity_id={enterprise_id}")
        office.check_page("audit-history-more-phone.png")

        # 4. The form filters by actor and dates (Beijing days): today holds the edits, tomorrow none.
        page.goto(f"{hub_url}/audit")
        page.get_by_label("操作人（用户名）").fill("office")
        page.get_by_label("操作", exact=True).select_option("update")
        today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
        page.get_by_label("开始日期").fill(today.isoformat())
        page.get_by_label("结束日期").fill(today.isoformat())
        with page.expect_navigation():
            page.get_by_role("button", name="筛选").click()
        expect(rows).to_have_count(50)
        actions = page.locator("tr.audit-entry td[data-label='操作']").all_inner_texts()
        assert {a.strip() for a in actions} == {"修改"}
        office.check_page("audit-filtered-phone.png")
        page.get_by_label("开始日期").fill((today + timedelta(days=1)).isoformat())
        page.get_by_label("结束日期").fill((today + timedelta(days=1)).isoformat())
        with page.expect_navigation():
            page.get_by_role("button", name="筛选").click()
        expect(page.locator("#audit-empty")).to_have_text("没有符合条件的审计记录。")
        office.check_page("audit-empty-phone.png")
        assert office.errors == [], office.errors
    finally:
        office.close()
