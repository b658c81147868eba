"""The office imports the roster from Excel on a 390 px phone, in a real headless Chromium against a real hub.

From the roster's "从 Excel 导入" the office downloads the template, uploads a workbook with mistakes and reads each
row's problem in Chinese (nothing written), uploads the corrected one, watches the check finish, confirms, and
finds the new enterprise and its person on the roster. The test fails on sideways scroll, unlabelled fields or any
JavaScript error; screenshots go to ``tests/artifacts/``.
"""
from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from common.validation import make_credit_code, make_id_number
from tests.browser import BROWSER_MARKS, Person, chromium_session
from tests.live_hub import live_hub

pytestmark = BROWSER_MARKS

TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def hub_url() -> Iterator[str]:
    with live_hub(enterprises=3) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium_session(TIMEOUT_MS)


def _filled(template: bytes, enterprises: list[list[Any]], people: list[list[Any]]) -> bytes:
    """The downloaded template with rows typed in, as a person fills it in Excel."""
    book = load_workbook(io.BytesIO(template))
    for row in enterprises:
        book["企业"].append(row)
    for row in people:
        book["人员"].append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_the_office_imports_a_workbook_after_correcting_its_rows(browser: Any, hub_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    office = Person(browser, hub_url, timeout_ms=TIMEOUT_MS)
    page = office.page
    code = make_credit_code("9", "1", "310115", "K0000001")
    number = make_id_number("320681", date(1988, 8, 8), 123)
    try:
        office.log_in("office", "/enterprises")
        with page.expect_navigation():
            page.get_by_role("link", name="从 Excel 导入").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("从 Excel 导入名册")
        office.check_page("import-start-phone.png")

        # The template, downloaded from the page.
        with page.expect_download() as download:
            page.get_by_role("link", name="下载模板（.xlsx）").click()
        template = Path(download.value.path()).read_bytes()
        assert load_workbook(io.BytesIO(template)).sheetnames[1:] == ["企业", "人员"]

        # A workbook with mistakes: every row's problem is listed, and nothing is offered to import.
        wrong = tmp_path / "名册-有错.xlsx"
        wrong.write_bytes(_filled(template, [["启东浏览器导入有限公司", code[:-1] + "0" if code[-1] != "0" else code[:-1] + "1",
                                              "310115", "建筑工程"]],
                                  [[code, "测试员", number[:-1] + "X" if number[-1] != "X" else number[:-1] + "0"]]))
        page.locator("#f-file").set_input_files(str(wrong))
        with page.expect_navigation():
            page.get_by_role("button", name="上传并检查").click()
        expect(page.locator("table.import-problems")).to_be_visible()
        expect(page.locator("table.import-problems")).to_contain_text("统一社会信用代码")
        expect(page.get_by_role("button", name="确认导入")).to_have_count(0)
        office.check_page("import-problems-phone.png")

        # The corrected workbook checks clean; the office confirms and the rows are written.
        right = tmp_path / "名册.xlsx"
        right.write_bytes(_filled(template, [["启东浏览器导入有限公司", code, "310115", "建筑工程"]],
                                  [[code, "测试员", number, "13912345678", "安全员"]]))
        page.locator("#f-file").set_input_files(str(right))
        with page.expect_navigation():
            page.get_by_role("button", name="上传并检查").click()
        expect(page.get_by_role("button", name="确认导入")).to_be_visible()
        expect(page.locator(".import-counts")).to_contain_text("将新增企业")
        office.check_page("import-preview-phone.png")
        with page.expect_navigation():
            page.get_by_role("button", name="确认导入").click()
        expect(page.get_by_text("已导入")).to_be_visible()
        office.check_page("import-done-phone.png")

        with page.expect_navigation():
            page.get_by_role("link", name="返回名册").click()
        page.locator("#f-q").fill(code[:14])
        expect(page.get_by_role("link", name="启东浏览器导入有限公司")).to_be_visible()
        with page.expect_navigation():
            page.get_by_role("link", name="启东浏览器导入有限公司").click()
        expect(page.get_by_text("测试员")).to_be_visible()

        # A long workbook: the check shows how far it has got while it runs, then its answer.
        long = tmp_path / "名册-长.xlsx"
        long.write_bytes(_filled(template, [[f"启东长表{n}号有限公司", make_credit_code("9", "1", "310115", f"L{n:07d}"),
                                             "310115"] for n in range(6000)], []))
        page.goto(f"{hub_url}/enterprises/import")
        page.locator("#f-file").set_input_files(str(long))
        with page.expect_navigation():
            page.get_by_role("button", name="上传并检查").click()
        expect(page.locator("#import-progress progress")).to_be_visible()
        office.check_page("import-progress-phone.png")
        expect(page.get_by_role("button", name="确认导入")).to_be_visible(timeout=60_000)
        expect(page.locator(".import-counts")).to_contain_text("6000")
        assert office.errors == [], office.errors
    finally:
        office.close()
