"""The office's home page and the statistics page in a real headless Chromium against a real hub process.

The charts must be drawn (an ECharts instance on each chart box, with pixels on its canvas), the pages must not
scroll sideways on a 390 px phone, and nothing may log a JavaScript error. Screenshots go to ``tests/artifacts/``.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from browser import BROWSER_MARKS, DESKTOP, PHONE, chromium_session
from live_hub import live_hub
from test_browser_pages import Tab

pytestmark = BROWSER_MARKS

TIMEOUT_MS = 15_000
CHARTS = ("cases", "visits", "units")

# Per chart box: whether ECharts owns it, and how many canvas pixels are not blank.
CHART_STATE_JS = """(id) => {
  const box = document.getElementById('chart-' + id);
  if (!box) return {present: false};
  const instance = window.echarts && window.echarts.getInstanceByDom(box);
  const canvas = box.querySelector('canvas');
  let inked = 0;
  if (canvas && canvas.width && canvas.height) {
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 3; i < data.length; i += 4) { if (data[i] !== 0) inked++; }
  }
  return {present: true, instance: !!instance, series: instance ? instance.getOption().series.length : 0,
          width: canvas ? canvas.width : 0, height: canvas ? canvas.height : 0, inked: inked,
          boxWidth: box.getBoundingClientRect().width};
}"""

# Per month table: its scroll box's visible area, where its newest month's header and its totals are, and whether the
# box scrolls sideways. The visible area leaves out the box's borders and scroll bars (clientLeft/clientWidth).
TABLE_VIEW_JS = """(id) => {
  const box = document.querySelector('#figure-' + id + ' .figure-scroll');
  const table = document.getElementById('table-' + id);
  const r = box.getBoundingClientRect();
  const area = {left: r.left + box.clientLeft, top: r.top + box.clientTop,
                right: r.left + box.clientLeft + box.clientWidth, bottom: r.top + box.clientTop + box.clientHeight};
  const rect = (cell) => { const b = cell.getBoundingClientRect();
    return {text: cell.textContent.trim(), left: b.left, right: b.right, top: b.top, bottom: b.bottom}; };
  const heads = table.querySelectorAll('thead th');
  return {area: area, viewport: {left: 0, top: 0, right: window.innerWidth, bottom: window.innerHeight},
          sideways: box.scrollWidth > box.clientWidth, scrollLeft: box.scrollLeft,
          label: rect(heads[0]), newest: rect(heads[heads.length - 2]), total_head: rect(heads[heads.length - 1]),
          row_total: rect(table.querySelector('tbody tr td.total')), grand_total: rect(table.querySelector('tfoot td.total'))};
}"""


def _inside(cell: dict[str, Any], area: dict[str, float]) -> bool:
    """Whether the cell is wholly within the area (half a pixel given for subpixel layout)."""
    return (cell["left"] >= area["left"] - 0.5 and cell["right"] <= area["right"] + 0.5
            and cell["top"] >= area["top"] - 0.5 and cell["bottom"] <= area["bottom"] + 0.5)


@pytest.fixture(scope="module")
def hub_url() -> Iterator[str]:
    with live_hub(enterprises=120) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium_session(TIMEOUT_MS)


@pytest.fixture
def open_tab(browser: Any, hub_url: str) -> Iterator[Callable[..., Tab]]:
    tabs: list[Tab] = []

    def make(device: dict[str, Any]) -> Tab:
        tab = Tab(browser, hub_url, device, "zh-CN")
        tabs.append(tab)
        return tab

    yield make
    for tab in tabs:
        tab.close()


def _login_home(tab: Tab, username: str = "office") -> None:
    tab.goto("/login?next=/")
    tab.page.get_by_label("用户名").fill(username)
    tab.page.get_by_label("密码").fill("lianfu-demo")
    with tab.page.expect_navigation():
        tab.page.get_by_role("button", name="登录", exact=True).click()
    assert tab.path() == "/"


@pytest.mark.parametrize("device,name", [(DESKTOP, "desktop"), (PHONE, "phone")])
def test_office_dashboard_and_charts(open_tab: Callable[..., Tab], device: dict[str, Any], name: str) -> None:
    from playwright.sync_api import expect

    tab = open_tab(device)
    page = tab.page
    _login_home(tab)
    expect(page.get_by_role("heading", level=1)).to_have_text("工作台")
    for section in ("home-urgency", "home-overdue", "home-emergencies", "home-applications", "home-warnings", "home-sync"):
        expect(page.locator(f"#{section}")).to_be_visible()
    # The seeded demo has open cases: the urgency counts add up to the heading's total.
    counts = [int(t) for t in page.locator("#home-urgency .urgency-count").all_inner_texts()]
    total = int(page.locator("#home-urgency h2 .badge").inner_text())
    assert len(counts) == 4 and sum(counts) == total > 0
    tab.assert_no_sideways_scroll()
    tab.screenshot(f"dashboard-office-{name}.png")

    with page.expect_navigation():
        page.get_by_role("link", name="统计图表").click()
    assert tab.path() == "/stats"
    expect(page.get_by_role("heading", level=1)).to_have_text("统计分析")
    page.wait_for_function("() => window.lianfuCharts && Object.keys(window.lianfuCharts).length === 3")
    page.wait_for_timeout(600)  # the bars' short entry animation
    for chart in CHARTS:
        state = page.evaluate(CHART_STATE_JS, chart)
        assert state["present"] and state["instance"], (chart, state)
        assert state["series"] >= 1 and state["width"] > 0 and state["height"] > 0, (chart, state)
        assert state["inked"] > 1000, f"the {chart} chart's canvas is blank: {state}"
        assert state["boxWidth"] <= tab.width, (chart, state)
        caption = page.locator(f"#table-{chart} caption")
        expect(caption).to_be_visible()
    tab.assert_no_sideways_scroll()
    tab.screenshot(f"stats-office-{name}.png")

    # The Excel download answers with a workbook.
    with page.expect_download() as download_info:
        page.locator("#stats-download").click()
    assert download_info.value.suggested_filename.endswith(".xlsx")

    page.evaluate("window.dispatchEvent(new Event('resize'))")
    page.wait_for_timeout(300)
    tab.assert_clean()


def test_stats_in_english_on_a_phone(open_tab: Callable[..., Tab]) -> None:
    from playwright.sync_api import expect

    tab = open_tab(PHONE)
    _login_home(tab)
    tab.goto("/stats?lang=en")
    expect(tab.page.get_by_role("heading", level=1)).to_have_text("Statistics")
    tab.page.wait_for_function("() => window.lianfuCharts && Object.keys(window.lianfuCharts).length === 3")
    assert tab.page.evaluate("window.echarts.getInstanceByDom(document.getElementById('chart-units')).getOption().series[0].name") \
        == "Signed for in time"
    tab.assert_no_sideways_scroll()
    tab.screenshot("stats-office-phone-en.png")
    tab.assert_clean()


@pytest.mark.parametrize("username,section", [("liaison_xz", "home-queue"), ("subcenter_sh", "home-warnings"),
                                              ("workstation_1", "home-requests")])
def test_other_dashboards_on_a_phone(open_tab: Callable[..., Tab], username: str, section: str) -> None:
    from playwright.sync_api import expect

    tab = open_tab(PHONE)
    _login_home(tab, username)
    expect(tab.page.locator(f"#{section}")).to_be_visible()
    assert tab.page.locator("#home-sync").count() == 0 and tab.page.locator("#home-overdue").count() == 0
    tab.assert_no_sideways_scroll()
    tab.screenshot(f"dashboard-{username}-phone.png")
    # Their statistics hold their own figures: no unit comparison for a sub-center or a workstation.
    tab.goto("/stats")
    tab.page.wait_for_function("() => window.lianfuCharts !== undefined")
    assert (tab.page.locator("#chart-units").count() > 0) == (username == "liaison_xz")
    tab.assert_no_sideways_scroll()
    tab.assert_clean()


@pytest.mark.parametrize("device,name", [(DESKTOP, "desktop"), (PHONE, "phone")])
def test_the_statistics_tables_show_the_newest_month_and_the_totals_first(
        open_tab: Callable[..., Tab], device: dict[str, Any], name: str) -> None:
    """Twelve months do not fit beside the row names even on an office screen (1366 px): the table scrolls in its own
    box, opened at the newest month, with the row names and the total column held in view on either side."""
    tab = open_tab(device)
    page = tab.page
    _login_home(tab)
    tab.goto("/stats")
    page.wait_for_function("() => window.lianfuCharts !== undefined")
    newest_month = page.evaluate("JSON.parse(document.getElementById('stats-data').textContent).cases.months.slice(-1)[0]")
    for figure in ("cases", "visits"):
        page.locator(f"#figure-{figure} .figure-scroll").scroll_into_view_if_needed()
        view = page.evaluate(TABLE_VIEW_JS, figure)
        assert view["newest"]["text"] == newest_month and view["total_head"]["text"] == "合计", view
        if name == "phone":
            assert view["sideways"], f"twelve months fit on a phone? {view}"
        for cell in ("label", "newest", "total_head", "row_total", "grand_total"):
            assert _inside(view[cell], view["area"]), f"{figure}: {cell} is out of its box's view on the {name}: {view}"
            assert _inside(view[cell], view["viewport"]), f"{figure}: {cell} is off the {name}'s screen: {view}"
        # Scrolled back to the oldest month, the row names and the totals stay where they were.
        page.locator(f"#figure-{figure} .figure-scroll").evaluate("box => { box.scrollLeft = 0; }")
        oldest = page.evaluate(TABLE_VIEW_JS, figure)
        if oldest["sideways"]:
            assert oldest["scrollLeft"] == 0 and not _inside(oldest["newest"], oldest["area"]), oldest
        for cell in ("label", "total_head", "row_total", "grand_total"):
            assert _inside(oldest[cell], oldest["area"]), f"{figure}: {cell} scrolled away with the months: {oldest}"
            assert abs(oldest[cell]["left"] - view[cell]["left"]) < 1, (figure, cell, view[cell], oldest[cell])
    tab.assert_no_sideways_scroll()
    tab.screenshot(f"stats-tables-{name}.png")
    tab.assert_clean()
