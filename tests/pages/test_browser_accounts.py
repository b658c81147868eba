"""The office adds an account on a 390 px phone and its person sets a password by the one-time link, in a real
headless Chromium against a real hub.

The office opens "用户管理" from the menu, adds a liaison (a wrong username first: the error is shown next to the
field in Chinese), reads the setup link; the newcomer opens it, sets a password and lands logged in; the link used
again says it is used or expired. The office then finds the account by search, disables it, and the newcomer's
open page session ends. Last, the office sets up an authenticator app on "我的账号" by its QR code. The test fails
on sideways scroll, unlabelled fields or any JavaScript error; screenshots go to ``tests/artifacts/``.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyotp
import pytest

from tests.browser import BROWSER_MARKS, Person, chromium_session
from tests.live_hub import live_hub

pytestmark = BROWSER_MARKS

NEW_PASSWORD = "Xinmima-2026!"
TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def hub_url() -> Iterator[str]:
    with live_hub(enterprises=3) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium_session(TIMEOUT_MS)


def test_the_office_adds_an_account_and_its_person_sets_a_password(browser: Any, hub_url: str) -> None:
    from playwright.sync_api import expect

    office, newcomer = Person(browser, hub_url), Person(browser, hub_url)
    page = office.page
    try:
        # 1. The menu's 管理 leads the office to the accounts; the list shows phones masked.
        office.log_in("office")
        with page.expect_navigation():
            page.locator(".site-nav").get_by_role("link", name="管理", exact=True).click()
        with page.expect_navigation():
            page.locator("main").get_by_role("link", name="用户管理").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("用户管理")
        expect(page.get_by_role("link", name="我的账号")).to_be_visible()
        expect(page.locator("tr.user-row[data-username='liaison_xz']")).to_have_count(1)
        office.check_page("accounts-list-phone.png")

        # 2. A new liaison: a wrong username is refused next to its field, then the account is added.
        with page.expect_navigation():
            page.get_by_role("link", name="添加账号").click()
        page.locator("#f-username").fill("Wang Min")
        page.locator("#f-name").fill("王敏")
        page.locator("#f-role").select_option("liaison")
        page.locator("#f-node").select_option("hub")
        page.locator("#f-unit").select_option("criminal-investigation")
        page.locator("#f-phone").fill("13812345678")
        with page.expect_navigation():
            page.get_by_role("button", name="添加该账号").click()
        expect(page.locator("#e-username")).to_contain_text("小写字母")
        # The refused form answers 422, which the browser reports; that one is expected.
        office.errors = [e for e in office.errors if "status of 422" not in e]
        office.check_page("accounts-form-error-phone.png")
        page.locator("#f-username").fill("wang_min")
        with page.expect_navigation():
            page.get_by_role("button", name="添加该账号").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("账号已添加")
        link = page.locator("#setup-url").inner_text().strip()
        assert link.startswith(f"{hub_url}/setup/"), link
        office.check_page("accounts-setup-link-phone.png")

        # 3. The newcomer sets a password by the link and is logged in.
        new_page = newcomer.page
        new_page.goto(link)
        expect(new_page.get_by_role("heading", level=1)).to_have_text("设置密码")
        newcomer.check_page("accounts-setup-phone.png")
        new_page.locator("#f-password").fill(NEW_PASSWORD)
        new_page.locator("#f-password_confirm").fill(NEW_PASSWORD)
        with new_page.expect_navigation():
            new_page.get_by_role("button", name="设置密码并登录").click()
        expect(new_page.locator(".site-header .user")).to_contain_text("wang_min")
        with new_page.expect_navigation():
            new_page.get_by_role("link", name="我的账号").click()
        expect(new_page.get_by_role("heading", level=1)).to_have_text("我的账号")
        newcomer.check_page("accounts-my-account-phone.png")

        # 4. The link a second time: used.
        other = office.context.new_page()
        other.goto(link)
        expect(other.get_by_role("heading", level=1)).to_have_text("链接已使用或已过期")
        other.close()

        # 5. The office finds the account and disables it; the newcomer's session ends at once.
        page.goto(f"{hub_url}/admin/users")
        page.get_by_label("按用户名或姓名搜索").fill("王敏")
        with page.expect_navigation():
            page.get_by_role("button", name="筛选").click()
        row = page.locator("tr.user-row")
        expect(row).to_have_count(1)
        expect(row.locator("td[data-label='手机号']")).to_have_text("138****5678")
        with page.expect_navigation():
            row.get_by_role("button", name="停用 wang_min").click()
        expect(page.locator("tr.user-row[data-username='wang_min']")).to_contain_text("已停用")
        new_page.goto(f"{hub_url}/cases")
        assert "/login" in new_page.url, new_page.url

        # 6. The office sets up an authenticator app by its QR code.
        page.goto(f"{hub_url}/account")
        with page.expect_navigation():
            page.get_by_role("button", name="设置身份验证器").click()
        expect(page.locator(".totp-qr svg")).to_be_visible()
        secret = page.locator("#totp-secret").inner_text().replace(" ", "")
        office.check_page("accounts-totp-phone.png")
        page.get_by_label("验证码").fill(pyotp.TOTP(secret).now())
        with page.expect_navigation():
            page.get_by_role("button", name="确认并启用").click()
        expect(page.get_by_role("status")).to_contain_text("身份验证器已设置")
        assert office.errors == [], office.errors
        assert newcomer.errors == [], newcomer.errors
    finally:
        office.close()
        newcomer.close()
