"""The pages under our Content-Security-Policy in a real headless Chromium against a real hub process.

The policy refuses inline script and style and anything from another host; a page that still relied on one would
log a violation (and a console error) rather than fail loudly, so each page here is opened as the office, used a
little (an htmx search, a chart's tooltip), and must have logged no violation and no console error. The API
reference must render from our own files and show our operations. Screenshots go to ``tests/artifacts/``.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import BROWSER_MARKS, DESKTOP, chromium_session
from live_federation import Federation
from live_hub import live_hub
from test_browser_pages import Tab

pytestmark = BROWSER_MARKS

ARTIFACTS = Path(__file__).parents[1] / "artifacts"
TIMEOUT_MS = 15_000

# Collects every `securitypolicyviolation` event of the page, from before its first script runs.
WATCH_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || '(inline)'} at ${e.sourceFile}:${e.lineNumber}`);
});
"""

OFFICE_PAGES = ("/", "/enterprises", "/cases", "/cases/new", "/cases/routing", "/visits", "/visits/new", "/visits/plan",
                "/applications", "/applications/new", "/bulletins", "/bulletins/new", "/sync", "/stats",
                "/oauth/clients", "/admin/users", "/admin/users/new", "/account", "/notifications")


@pytest.fixture(scope="module")
def hub_url() -> Iterator[str]:
    with live_hub(enterprises=40) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium_session(TIMEOUT_MS)


@pytest.fixture
def tab(browser: Any, hub_url: str) -> Iterator[Tab]:
    opened = Tab(browser, hub_url, DESKTOP, "zh-CN")
    opened.context.add_init_script(WATCH_VIOLATIONS)
    yield opened
    opened.close()


def violations(tab: Tab) -> list[str]:
    return tab.page.evaluate("window.__cspViolations || []")


def login_office(tab: Tab) -> None:
    tab.goto("/login?next=/")
    assert violations(tab) == []
    tab.page.get_by_label("用户名").fill("office")
    tab.page.get_by_label("密码").fill("lianfu-demo")
    with tab.page.expect_navigation():
        tab.page.get_by_role("button", name="登录", exact=True).click()
    assert tab.path() == "/"


def test_office_pages_run_under_the_policy(tab: Tab) -> None:
    from playwright.sync_api import expect

    login_office(tab)
    page = tab.page
    for path in OFFICE_PAGES:
        response = tab.goto(path)
        assert response is not None and response.status == 200, path
        policy = response.headers.get("content-security-policy", "")
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy, path
        assert violations(tab) == [], path
        tab.assert_clean()
    # The shell of every page: htmx loaded (from our file) and configured not to evaluate strings.
    assert page.evaluate("window.htmx && htmx.config.allowEval === false && htmx.config.includeIndicatorStyles === false")

    # An htmx swap: the roster search answers a fragment into the page.
    tab.goto("/enterprises")
    rows = page.locator("#roster-rows")
    expect(rows).to_be_visible()
    page.get_by_label("按名称、拼音首字母或信用代码搜索").fill("没有这样的企业zzz")
    expect(rows).to_contain_text("没有符合条件的企业。")
    assert violations(tab) == []

    # The statistics charts draw, and their tooltip (HTML ECharts writes) breaks no rule either.
    tab.goto("/stats")
    chart = page.locator("#chart-cases")
    expect(chart.locator("canvas")).to_have_count(1)
    box = chart.bounding_box()
    assert box is not None
    for fraction in (0.3, 0.5, 0.7):
        page.mouse.move(box["x"] + box["width"] * fraction, box["y"] + box["height"] * 0.5)
        page.wait_for_timeout(150)
    assert page.evaluate("!!window.echarts.getInstanceByDom(document.getElementById('chart-cases'))")
    units = page.locator("#chart-units")
    if units.count():
        # Its height follows its rows, set by script now that style="" is refused.
        assert page.evaluate("document.getElementById('chart-units').style.minHeight").endswith("rem")
    tab.screenshot("security-stats.png")
    assert violations(tab) == []
    tab.assert_clean()


def test_api_reference_renders_from_our_own_files(tab: Tab, hub_url: str) -> None:
    from playwright.sync_api import expect

    login_office(tab)
    page = tab.page
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(request.url.split("/")[2]))
    response = tab.goto("/schema")
    assert response is not None and response.status == 200
    # Swagger UI lists our operations once it has fetched and read /schema/openapi.json.
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/enterprises").first).to_be_visible()
    expect(page.locator(".info .title")).to_contain_text("Lianfu")
    # Open one operation: its parameters and responses render too.
    page.locator(".opblock-summary-path", has_text="/api/v1/enterprises").first.click()
    expect(page.locator(".opblock.is-open .responses-wrapper").first).to_be_visible()
    tab.screenshot("security-api-docs.png")
    assert hosts == {hub_url.split("/")[2]}, f"requests to other hosts: {hosts}"
    assert violations(tab) == []
    tab.assert_clean()


# --- across origins: a spoke signs in and out at its hub ------------------------------------------------------------

@pytest.fixture(scope="module")
def fed() -> Iterator[Federation]:
    with Federation(enterprises=5) as federation:
        federation.enroll("sc-shanghai")
        federation.start_spoke("sc-shanghai")
        _until_the_spoke_sends_logins_to_the_hub(federation.spoke_urls["sc-shanghai"], federation.hub_url)
        yield federation


def _until_the_spoke_sends_logins_to_the_hub(spoke: str, hub: str, timeout: float = 60) -> None:
    """On a busy machine the spoke's first call to the hub may time out, and it then shows its offline form for a
    while: wait for the redirect this test is about rather than test the offline fallback by chance."""
    import time
    import urllib.error
    import urllib.request

    class Stay(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(Stay)
    deadline = time.monotonic() + timeout
    while True:
        try:
            opener.open(f"{spoke}/login", timeout=10)
        except urllib.error.HTTPError as answer:
            if answer.code in (302, 303) and (answer.headers.get("location") or "").startswith(hub):
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"{spoke}/login never sent to the hub at {hub}")
        time.sleep(1)


def test_spoke_sign_in_and_out_cross_to_the_hub_within_form_action(browser: Any, fed: Federation) -> None:
    """Chromium checks `form-action` on every redirect after a form is sent: the hub's login form ends at the
    spoke's callback, the spoke's sign-out form at the hub. Both must get through, and nothing else may."""
    from playwright.sync_api import expect

    hub, spoke = fed.hub_url, fed.spoke_urls["sc-shanghai"]
    tab = Tab(browser, spoke, DESKTOP, "zh-CN")
    tab.context.add_init_script(WATCH_VIOLATIONS)
    try:
        page = tab.page
        tab.goto("/login")
        assert page.url.startswith(f"{hub}/login"), page.url
        page.get_by_label("用户名").fill("subcenter_sh")
        page.get_by_label("密码").fill("lianfu-demo")
        with page.expect_navigation():
            page.get_by_role("button", name="登录", exact=True).click()
        page.wait_for_url(re.compile("^" + re.escape(spoke) + r"/(\?|$)"))
        expect(page.locator(".site-header .user")).to_contain_text("subcenter_sh")
        response = tab.goto("/enterprises")
        assert response is not None
        policy = response.headers["content-security-policy"]
        assert f"form-action 'self' {hub}" in policy, policy
        assert violations(tab) == []

        page.get_by_role("button", name="退出").click()
        # Out at the hub and back: the spoke sends a stranger to log in (at the hub) again.
        page.wait_for_url(re.compile("^" + re.escape(hub) + r"/login"))
        expect(page.get_by_label("密码")).to_be_visible()
        page.goto(f"{spoke}/enterprises", wait_until="load")
        assert not page.url.startswith(f"{spoke}/enterprises"), "the spoke session should be over"
        assert violations(tab) == []
        tab.assert_clean()
    finally:
        tab.close()
