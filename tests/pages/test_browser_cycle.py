"""Reporting risk information and the task list on a 390 px phone, in a real headless Chromium against a real hub."""
from __future__ import annotations

from typing import Any

from browser import BROWSER_MARKS, Person, chromium_session
from live_hub import live_hub

pytestmark = BROWSER_MARKS


def test_reporting_risk_information_and_the_tasks_on_a_phone() -> None:
    from playwright.sync_api import expect

    sessions = chromium_session(15_000)  # a generator (a pytest fixture's body elsewhere)
    browser = next(sessions)
    with live_hub(enterprises=5) as base_url:
        reporter: Any = Person(browser, base_url)
        try:
            reporter.log_in("subcenter_sh", "/info-reports/new")
            page = reporter.page
            expect(page.get_by_role("heading", level=1)).to_have_text("报送风险信息")
            reporter.check_page("cycle-info-report-new-phone.png")
            page.get_by_label("标题").fill("工地拖欠工资可能引发聚集")
            page.get_by_label("严重程度").select_option("high")
            with page.expect_navigation():
                page.get_by_role("button", name="提交").click()
            expect(page.locator("#info-status")).to_have_text("待审核")
            reporter.check_page("cycle-info-report-phone.png")
            page.goto(f"{base_url}/tasks")
            expect(page.get_by_role("heading", level=1)).to_have_text("任务")
            reporter.check_page("cycle-tasks-phone.png")
            assert reporter.errors == []
        finally:
            reporter.close()
            sessions.close()
