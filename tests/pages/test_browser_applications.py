"""The applications journey in a real headless Chromium: a sub-center applies on its spoke (phone), sync carries it to
the hub, the office decides at the hub (desktop), and the enrollment code read off the page turns a fresh machine
into the new node's spoke holding only its own slice. Plus the return-for-changes round trip across sync.

Fails on any JavaScript error, console error or failed request; screenshots go to ``tests/artifacts/``.
"""
from __future__ import annotations

import re
import sqlite3
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import BROWSER_MARKS, DESKTOP, PHONE
from tests.live_federation import Federation
from tests.live_hub import LIANFU, ROOT, _environment
from tests.pages.test_browser_spoke_login import (  # noqa: F401
    PASSWORD, TIMEOUT_MS, Watcher, assert_no_sideways_scroll, browser, screenshot,
)

pytestmark = BROWSER_MARKS
NODE = "sc-shanghai"
# Synced tables whose rows each belong to a node: a spoke may hold only its own subtree's.
OWNED_TABLES = ("enterprise", "person", "node_application", "case_record", "visit", "info_report", "attachment",
                "user_account")


@pytest.fixture(scope="module")
def fed() -> Iterator[Federation]:
    with Federation(enterprises=12, spoke_env={"LIANFU_SYNC_INTERVAL": "3600"}) as federation:
        federation.enroll(NODE)
        federation.start_spoke(NODE)
        sync(federation, NODE)  # the spoke's roster, for the host enterprise
        yield federation


def sync(fed: Federation, node: str) -> None:
    run = fed.run_sync(node)
    assert run.returncode == 0, run.output()


def context_for(browser: Any, device: dict[str, Any]) -> Any:
    context = browser.new_context(**device, locale="zh-CN")
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    return context


def log_in(page: Any, url: str, username: str) -> None:
    """Open `url`; log in at the hub's form when asked (a spoke sends people there and back)."""
    page.goto(url)
    if "/login" in page.url:
        page.fill("#f-username", username)
        page.fill("#f-password", PASSWORD)
        page.click(".login-card button[type=submit]")
        page.wait_for_url(url)


def apply_on_spoke(page: Any, spoke: str, name: str) -> str:
    """Fill the workstation application on the phone; the new application's id."""
    from playwright.sync_api import expect

    log_in(page, f"{spoke}/applications/new", "subcenter_sh")
    expect(page.locator("h1")).to_have_text("新的申请")
    assert_no_sideways_scroll(page)
    page.get_by_label("申请事项").select_option("suspend")  # another kind's fields, then back
    expect(page.locator("#f-target_node")).to_be_visible()
    page.get_by_label("申请事项").select_option("workstation")
    expect(page.locator("#f-host_enterprise_q")).to_be_visible()
    page.get_by_label("拟设名称").fill(name)
    expect(page.get_by_label("行政区划（6 位代码）")).not_to_have_value("")  # the sub-center's region, prefilled
    with page.expect_response(lambda r: "/enterprises/picker" in r.url):
        page.locator("#f-host_enterprise_q").fill("qd")  # the pinyin initials of 启东, found as one types
    page.locator("#picker-results-host_enterprise_id input[name=host_enterprise_id]").first.check()
    page.get_by_label("姓名").fill("周站长")
    page.get_by_label("手机号").fill("13987654321")
    page.get_by_label("申请理由").fill("园区企业集中，需就近服务")
    page.get_by_role("button", name="提交审核").click()
    page.wait_for_url(re.compile(r".*/applications/[0-9a-f-]{36}$"))
    expect(page.locator(".case-badges")).to_contain_text("待审核")
    return page.url.rsplit("/", 1)[1]


def decide_at_hub(page: Any, hub: str, application_id: str, decision: str, comment: str) -> None:
    from playwright.sync_api import expect

    log_in(page, f"{hub}/applications/{application_id}", "office")
    expect(page.locator("#review")).to_be_visible()
    page.locator(f'#review input[name=decision][value={decision}]').check()
    page.get_by_label("给申请人的意见（退回或驳回时必填）").fill(comment)
    page.get_by_role("button", name="提交审批结果").click()


def rows_of_other_nodes(db_path: Any, own: str) -> dict[str, int]:
    with sqlite3.connect(db_path) as conn:
        counts = {table: conn.execute(f'SELECT count(*) FROM "{table}" WHERE node_id != ?', (own,)).fetchone()[0]
                  for table in OWNED_TABLES}
        nodes = {row[0] for row in conn.execute("SELECT id FROM node")}
    return {**{t: n for t, n in counts.items() if n}, **({"node": len(nodes)} if nodes - {"hub", NODE, own} else {})}


def test_applied_on_the_spoke_approved_at_the_hub_and_enrolled_with_the_code(browser: Any, fed: Federation,  # noqa: F811
                                                                            tmp_path: Any) -> None:
    from playwright.sync_api import expect

    watcher = Watcher()
    phone, desktop = context_for(browser, PHONE), context_for(browser, DESKTOP)
    try:
        page = watcher.watch(phone.new_page())
        application_id = apply_on_spoke(page, fed.spoke_urls[NODE], "启东海工临港工作站")
        assert_no_sideways_scroll(page)
        screenshot(page, "application-submitted-spoke-phone.png")
        sync(fed, NODE)

        office = watcher.watch(desktop.new_page())
        decide_at_hub(office, fed.hub_url, application_id, "approve", "同意设立")
        expect(office.locator("#enrollment-code")).to_be_visible()
        code = office.locator("#enrollment-code-text").inner_text().strip()
        assert re.fullmatch(r"[0-9A-F]{6}(-[0-9A-F]{6}){3}", code)
        expect(office.locator("#enrollment-code svg")).to_be_visible()
        new_node = office.locator(".application-meta small").filter(has_text=re.compile(r"^ws-")).first.inner_text()
        screenshot(office, "application-approved-code-desktop.png")
        office.goto(f"{fed.hub_url}/applications/{application_id}")  # a later visit (reload would post again)
        expect(office.locator("#enrollment")).to_contain_text("无法再次显示")
        assert code not in office.content()

        data_dir = tmp_path / "new-spoke"
        done = subprocess.run([*LIANFU, "spoke", "enroll", "--hub", fed.hub_url, "--code", code, "--data-dir",
                               str(data_dir)], cwd=ROOT, env=_environment(data_dir), capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        assert new_node in done.stdout
        synced = subprocess.run([*LIANFU, "sync", "--once", "--data-dir", str(data_dir)], cwd=ROOT,
                                env={**_environment(data_dir), "LIANFU_INTROSPECTION_CACHE": "0"},
                                capture_output=True, text=True, timeout=120)
        assert synced.returncode == 0, synced.stdout + synced.stderr
        assert rows_of_other_nodes(data_dir / "lianfu.db", new_node) == {}
        # The code has done its work: a second machine cannot use it.
        again = subprocess.run([*LIANFU, "spoke", "enroll", "--hub", fed.hub_url, "--code", code, "--data-dir",
                                str(tmp_path / "again")], cwd=ROOT, env=_environment(tmp_path / "again"),
                               capture_output=True, text=True, timeout=120)
        assert again.returncode != 0
        watcher.assert_clean()
    finally:
        phone.close()
        desktop.close()


def test_returned_for_changes_on_the_hub_resubmitted_on_the_spoke(browser: Any, fed: Federation) -> None:  # noqa: F811
    from playwright.sync_api import expect

    watcher = Watcher()
    phone, desktop = context_for(browser, PHONE), context_for(browser, DESKTOP)
    try:
        page = watcher.watch(phone.new_page())
        spoke = fed.spoke_urls[NODE]
        application_id = apply_on_spoke(page, spoke, "启东海工外高桥工作站")
        sync(fed, NODE)
        office = watcher.watch(desktop.new_page())
        decide_at_hub(office, fed.hub_url, application_id, "return", "请补充负责人简历")
        expect(office.locator(".case-badges")).to_contain_text("退回修改")
        sync(fed, NODE)

        page.goto(f"{spoke}/applications/{application_id}")
        expect(page.locator(".flash-warning")).to_contain_text("请补充负责人简历")
        assert_no_sideways_scroll(page)
        screenshot(page, "application-returned-spoke-phone.png")
        page.get_by_role("link", name="修改并重新提交").click()
        expect(page.get_by_label("拟设名称")).to_have_value("启东海工外高桥工作站")
        page.locator("#f-background").fill("负责人从事港口企业管理十五年")
        assert_no_sideways_scroll(page)
        page.get_by_role("button", name="重新提交审核").click()
        page.wait_for_url(f"{spoke}/applications/{application_id}")
        expect(page.locator(".case-badges")).to_contain_text("待审核")
        sync(fed, NODE)

        office.reload()
        expect(office.locator(".case-badges")).to_contain_text("待审核")
        expect(office.locator("#history")).to_contain_text("修改后重新提交")
        expect(office.locator("#history")).to_contain_text("请补充负责人简历")
        expect(office.locator("main")).to_contain_text("负责人从事港口企业管理十五年")
        screenshot(office, "application-resubmitted-desktop.png")
        watcher.assert_clean()
    finally:
        phone.close()
        desktop.close()
