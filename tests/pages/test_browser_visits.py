"""The sub-center head logs a visit on a phone at the sc-shanghai spoke, in a real headless Chromium.

A seeded hub process and the enrolled sc-shanghai spoke (real processes, loopback). On a 390 px phone with the
position granted: pick the enterprise by searching, tick the checklist, add a hazard, record the position, attach a
large photo (reduced in the page to at most 1600 px JPEG), reload (the draft comes back), be told of a bad field in
Chinese, save; then one sync round and the visit, photo included, is at the hub. Fails on any JavaScript error,
console error or failed request, and on sideways scrolling; screenshots go to ``tests/artifacts/``.
"""
from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import BROWSER_MARKS, PHONE
from tests.live_federation import Federation
from tests.pages.test_browser_spoke_login import PASSWORD, Watcher, browser, screenshot  # noqa: F401

pytestmark = BROWSER_MARKS
NODE = "sc-shanghai"
WIDTH = PHONE["viewport"]["width"]
POSITION = {"latitude": 31.2304, "longitude": 121.4737}
VISIT_URL = re.compile(r"/visits/([0-9a-f-]{36})\?saved=1$")
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def fed() -> Iterator[Federation]:
    spoke_env = {"LIANFU_SYNC_INTERVAL": "3600", "LIANFU_DIRECTORY_REFRESH": "0"}  # each round reads the office's lists
    with Federation(enterprises=12, spoke_env=spoke_env) as federation:
        federation.enroll(NODE)
        federation.start_spoke(NODE)
        yield federation


def big_photo(path: Path, width: int = 2400, height: int = 1800) -> Path:
    """A PNG larger than the page may send: a colour gradient, so the reduced JPEG still shows something."""
    row = b"\x00" + b"".join(bytes((x * 255 // width, 80, 255 - x * 255 // width)) for x in range(width))
    raw = row * height

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
    return path


def check_phone_page(page: Any, name: str) -> None:
    """No sideways scroll on the phone, every form control labelled, and a screenshot."""
    assert page.evaluate("window.innerWidth") == WIDTH
    scroll = page.evaluate("document.scrollingElement.scrollWidth")
    assert scroll <= WIDTH, f"{page.url} scrolls sideways: {scroll} > {WIDTH} px"
    unlabelled = page.evaluate("""() => Array.from(document.querySelectorAll('input, select, textarea'))
      .filter(el => el.type !== 'hidden' && el.getClientRects().length > 0)
      .filter(el => !(el.labels && Array.from(el.labels).some(l => l.textContent.trim()))
                    && !(el.getAttribute('aria-label') || '').trim())
      .map(el => el.outerHTML)""")
    assert unlabelled == [], f"form controls without a label on {page.url}: {unlabelled}"
    screenshot(page, name)


def log_in_at_the_hub(page: Any, username: str) -> None:
    page.fill("#f-username", username)
    page.fill("#f-password", PASSWORD)
    with page.expect_navigation():
        page.click(".login-card button[type=submit]")


def test_a_sub_center_head_logs_a_visit_on_the_spoke_and_it_reaches_the_hub(
        browser: Any, fed: Federation, tmp_path: Path) -> None:  # noqa: F811
    from playwright.sync_api import expect

    spoke, hub = fed.spoke_urls[NODE], fed.hub_url
    context = browser.new_context(**PHONE, locale="zh-CN", geolocation=POSITION)
    context.set_default_timeout(TIMEOUT_MS)
    context.grant_permissions(["geolocation"], origin=spoke)
    watcher = Watcher()
    try:
        page = watcher.watch(context.new_page())
        page.goto(f"{spoke}/login?next=/visits/new")
        log_in_at_the_hub(page, "subcenter_sh")  # the hub's form, then back at the spoke
        page.wait_for_url(f"{spoke}/visits/new")
        expect(page.locator("h1")).to_have_text("记录巡访")
        draft_key = page.locator("#visit-form").get_attribute("data-draft-key")
        assert draft_key == f"lianfu:visit-draft:{NODE}:subcenter_sh"

        # The enterprise picker searches this node's roster as you type.
        with page.expect_response(lambda r: "/enterprises/picker" in r.url):
            page.locator("#f-enterprise_q").fill("上海")
        options = page.locator("#picker-results-enterprise_id .picker-option")
        expect(options.first).to_contain_text("上海")
        enterprise_id = options.first.locator("input").get_attribute("value")
        enterprise_name = options.first.locator(".picker-name").inner_text().strip()
        options.first.locator("input").check()

        page.get_by_label("巡访类型").select_option("safety")
        page.locator("#f-checklist-fire_safety-issue").check()
        page.locator("#f-checklist-labour_relations-ok").check()
        page.get_by_label("隐患", exact=True).fill("配电箱未上锁")
        page.locator("#f-hazards-0-severity").select_option("high")
        page.get_by_label("发现问题", exact=True).fill("配电房堆放杂物")
        page.get_by_label("指导意见").fill("当场督促整改")
        page.get_by_role("button", name="记录位置").click()
        expect(page.locator("#locate-status")).to_contain_text("已记录位置")
        expect(page.get_by_label("纬度")).to_have_value("31.230400")
        expect(page.get_by_label("经度")).to_have_value("121.473700")
        page.get_by_role("button", name="添加隐患").click()
        page.locator("#f-hazards-1-description").fill("灭火器过期")
        expect(page.locator("#draft-status")).to_have_text("草稿已保存在本机。")
        page.wait_for_function(f"() => (localStorage.getItem({draft_key!r}) || '').includes('灭火器过期')")
        check_phone_page(page, "visit-new-phone.png")

        # A reload (or a dropped connection) keeps what was typed: the draft is on the device.
        page.reload(wait_until="load")
        expect(page.locator("#draft-status")).to_have_text("已恢复本机上未保存的草稿。")
        chosen = page.locator("#picker-results-enterprise_id input[name=enterprise_id]:checked")
        expect(chosen).to_have_value(enterprise_id)  # shown again from the draft, though no search found it now
        expect(page.locator("#picker-results-enterprise_id")).to_contain_text(enterprise_name)
        expect(page.get_by_label("发现问题", exact=True)).to_have_value("配电房堆放杂物")
        expect(page.locator("#f-hazards-0-description")).to_have_value("配电箱未上锁")
        expect(page.locator("#f-hazards-0-severity")).to_have_value("high")
        expect(page.locator("#f-hazards-1-description")).to_have_value("灭火器过期")
        expect(page.locator("#f-checklist-fire_safety-issue")).to_be_checked()
        expect(page.get_by_label("纬度")).to_have_value("31.230400")

        # A position refused is said so, and nothing breaks.
        context.clear_permissions()
        page.get_by_role("button", name="记录位置").click()
        expect(page.locator("#locate-status")).to_contain_text("无法获取位置", timeout=25_000)
        expect(page.get_by_label("纬度")).to_have_value("31.230400")

        # The photo is reduced in the page before it is sent.
        page.set_input_files("#f-photos", str(big_photo(tmp_path / "现场.png")))
        expect(page.locator("#photo-previews li")).to_have_count(1)
        expect(page.locator("#photo-previews li .hint")).to_contain_text("1600×1200")

        # A bad field: the Chinese message beside it, nothing saved, the form and the photo still there.
        page.get_by_label("参加人数").fill("-3")
        watcher.expect_status(422, f"{spoke}/visits")
        with page.expect_response(lambda r: r.url == f"{spoke}/visits" and r.request.method == "POST") as refused:
            page.get_by_role("button", name="保存巡访记录").click()
        assert refused.value.status == 422
        expect(page.locator("#e-attendance")).to_have_text("须为大于等于0的整数")
        expect(page.get_by_role("alert")).to_contain_text("未保存")
        expect(page.locator("#photo-previews li")).to_have_count(1)
        check_phone_page(page, "visit-error-phone.png")

        page.get_by_label("参加人数").fill("")
        page.get_by_role("button", name="保存巡访记录").click()
        page.wait_for_url(VISIT_URL)
        visit_id = VISIT_URL.search(page.url).group(1)  # type: ignore[union-attr]
        expect(page.locator(".flash-success")).to_contain_text("巡访记录已保存")
        assert page.evaluate(f"localStorage.getItem({draft_key!r})") is None, "the draft is cleared once saved"
        expect(page.locator("h1")).to_contain_text(enterprise_name)
        expect(page.locator("#visit-hazards")).to_contain_text("配电箱未上锁")
        expect(page.locator("#visit-hazards")).to_contain_text("灭火器过期")
        expect(page.locator("#visit-checklist")).to_contain_text("存在问题")
        expect(page.locator("#visit-location")).to_have_text("31.230400, 121.473700")
        photo = page.locator("#visit-photos img")
        expect(photo).to_have_count(1)
        page.wait_for_function("() => document.querySelector('#visit-photos img').complete")
        assert photo.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [1600, 1200]
        stored = page.request.get(spoke + (photo.get_attribute("src") or ""))
        assert stored.headers["content-type"] == "image/jpeg", "the photo is sent as the reduced JPEG"
        assert not stored.body().startswith(b"\x89PNG")
        case_link = page.locator("#open-case").get_attribute("href") or ""
        assert case_link.startswith("/cases/new?") and f"enterprise_id={enterprise_id}" in case_link and "channel=visit" in case_link
        check_phone_page(page, "visit-detail-phone.png")

        # The new form starts empty again.
        page.goto(f"{spoke}/visits/new")
        expect(page.locator("#draft-status")).to_have_text("")
        expect(page.get_by_label("发现问题", exact=True)).to_have_value("")

        page.goto(f"{spoke}/visits")
        expect(page.locator("#visit-rows")).to_contain_text(enterprise_name)
        check_phone_page(page, "visits-phone.png")
        page.goto(f"{spoke}/")
        expect(page.locator("h1")).to_have_text("工作台")
        expect(page.locator("#home-plan")).to_be_visible()
        check_phone_page(page, "home-subcenter-phone.png")

        # One sync round, and the visit with its photo is at the hub.
        run = fed.run_sync(NODE)
        assert run.returncode == 0, run.output()
        office = watcher.watch(context.new_page())
        office.goto(f"{hub}/login?next=/visits/{visit_id}")
        log_in_at_the_hub(office, "office")
        office.wait_for_url(f"{hub}/visits/{visit_id}")
        expect(office.locator("#visit-hazards")).to_contain_text("配电箱未上锁")
        expect(office.locator("#visit-location")).to_have_text("31.230400, 121.473700")
        office.wait_for_function("() => document.querySelector('#visit-photos img') && document.querySelector('#visit-photos img').complete")
        assert office.locator("#visit-photos img").evaluate("img => img.naturalWidth") == 1600
        check_phone_page(office, "visit-at-hub-phone.png")

        # The office renames a checklist item at the hub; the spoke's form has the new name after its next sync.
        office.goto(f"{hub}/visits/settings")
        office.locator("#f-item_label-1").fill("消防设施与疏散通道")
        with office.expect_navigation():
            office.get_by_role("button", name="保存", exact=True).click()
        expect(office.locator(".flash-success")).to_contain_text("已保存")
        check_phone_page(office, "visit-settings-phone.png")
        page.goto(f"{spoke}/visits/new")
        expect(page.locator("#visit-form")).not_to_contain_text("消防设施与疏散通道")
        run = fed.run_sync(NODE)
        assert run.returncode == 0, run.output()
        page.goto(f"{spoke}/visits/new")
        expect(page.locator("#f-checklist-fire_safety-ok")).to_be_attached()
        expect(page.locator("#visit-form")).to_contain_text("消防设施与疏散通道")
        watcher.assert_clean()
    finally:
        context.close()
