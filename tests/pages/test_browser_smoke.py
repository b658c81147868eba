"""Headless system Chromium works, and the shared stylesheet fits a 390 px phone."""

from __future__ import annotations

import contextlib
import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from browser import BROWSER_MARKS, DESKTOP, PHONE, chromium_session

pytestmark = BROWSER_MARKS

ARTIFACTS = Path(__file__).parents[1] / "artifacts"
STATIC = Path(__file__).resolve().parents[2] / "common" / "static"

TINY_PAGE = """<!doctype html>
<html lang="zh-CN">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <link rel="icon" href="data:,">
  <title>警企联服 · 冒烟测试</title>
  <style>body { font-family: sans-serif; margin: 1rem; } p { max-width: 100%; }</style>
</head>
<body>
  <h1>警企联服</h1>
  <p id="greeting">页面已加载。</p>
  <script>document.getElementById("greeting").dataset.ready = "yes";</script>
</body>
</html>
"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass


@contextlib.contextmanager
def serve_directory(directory: Path) -> Iterator[str]:
    """Serve ``directory`` over HTTP on a free loopback port; yield the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="static-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser():
    yield from chromium_session(5000)  # Playwright's own default wait


def _collect_errors(page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on("requestfailed", lambda req: errors.append(f"requestfailed: {req.url} {req.failure}"))
    return errors


def _screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def test_tiny_page_renders_on_phone(browser, tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text(TINY_PAGE, encoding="utf-8")
    with serve_directory(tmp_path) as base_url:
        context = browser.new_context(**PHONE)
        try:
            page = context.new_page()
            errors = _collect_errors(page)
            response = page.goto(f"{base_url}/index.html", wait_until="load")
            assert response is not None and response.ok

            assert page.title() == "警企联服 · 冒烟测试"
            assert page.locator("#greeting").get_attribute("data-ready") == "yes"
            assert page.evaluate("window.innerWidth") == 390
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            shot = _screenshot(page, "smoke-phone.png")
            assert shot.stat().st_size > 0
            assert errors == []
        finally:
            context.close()


LIANFU_PAGE = """<!doctype html>
<html lang="zh-CN">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <link rel="icon" href="data:,">
  <title>工单列表 · 警企联服</title>
  <link rel="stylesheet" href="/lianfu.css">
  <script src="/vendor/{htmx}" defer></script>
</head>
<body>
  <a class="skip-link" href="#main">跳到正文</a>
  <header class="site-header">
    <a class="brand" href="/">警企联服<small>警企联动服务中心工作平台</small></a>
    <nav class="site-nav" aria-label="主导航"><ul>
      <li><a href="/" aria-current="page">工作台</a></li><li><a href="/">诉求工单</a></li>
      <li><a href="/">企业档案</a></li><li><a href="/">走访任务</a></li>
      <li><a href="/">统计分析</a></li><li><a href="/">系统管理</a></li>
    </ul></nav>
  </header>
  <main id="main">
    <ul class="flashes"><li class="flash flash-success">工单已提交。</li><li class="flash flash-error">有 1 处需要修改。</li></ul>
    <h1>诉求工单</h1>
    <div class="table-wrap"><table class="list-cards">
      <thead><tr><th>编号</th><th>企业</th><th>紧急程度</th><th>状态</th><th>办理进度</th><th>受理时间</th></tr></thead>
      <tbody>
        <tr><td data-label="编号">JQLF-2025-000123456789</td><td data-label="企业">某某市高新技术产业开发区精密制造有限责任公司</td>
          <td data-label="紧急程度"><span class="badge urgency-mass">群体性</span></td>
          <td data-label="状态"><span class="badge badge-warning">办理中</span></td>
          <td data-label="办理进度"><div class="progress" role="progressbar" aria-valuenow="40" aria-valuemin="0" aria-valuemax="100"><div class="progress-bar" style="width:40%"></div></div></td>
          <td data-label="受理时间">2025-03-01 09:30</td></tr>
        <tr><td data-label="编号">JQLF-2025-000123456790</td><td data-label="企业">某物流公司</td>
          <td data-label="紧急程度"><span class="badge urgency-routine">一般</span></td>
          <td data-label="状态"><span class="badge badge-success">已办结</span></td>
          <td data-label="办理进度"><div class="progress"><div class="progress-bar" style="width:100%"></div></div></td>
          <td data-label="受理时间">2025-03-02 14:05</td></tr>
      </tbody></table></div>
    <div class="table-wrap"><table>
      <thead><tr><th>月份</th><th>受理</th><th>办结</th><th>超期</th><th>满意率</th><th>平均办理时长（小时）</th><th>回访率</th></tr></thead>
      <tbody><tr><td>2025年1月</td><td>120</td><td>115</td><td>2</td><td>98.2%</td><td>36.5</td><td>100%</td></tr></tbody>
    </table></div>
    <form class="panel">
      <div class="field has-error"><label for="title" class="required">诉求标题</label>
        <input id="title" name="title" aria-invalid="true" aria-describedby="title-error">
        <span class="field-error" id="title-error">请填写诉求标题</span></div>
      <div class="field"><label for="urgency">紧急程度</label>
        <select id="urgency"><option>一般</option><option>紧急</option><option>重大</option><option>群体性</option></select></div>
      <div class="form-actions"><button type="submit">提交</button><a class="button button-secondary" href="/">取消</a></div>
    </form>
    <p class="cluster"><span class="badge urgency-urgent">紧急</span><span class="badge urgency-major">重大</span></p>
  </main>
</body>
</html>
"""


@pytest.mark.parametrize("device", ["phone", "desktop"])
def test_lianfu_css_never_scrolls_sideways(browser, tmp_path: Path, device: str) -> None:
    htmx = sorted((STATIC / "vendor").glob("htmx-*.min.js"))
    if not (STATIC / "lianfu.css").is_file() or not htmx:
        pytest.skip("common/static/lianfu.css or the vendored htmx is missing")
    shutil.copy(STATIC / "lianfu.css", tmp_path / "lianfu.css")
    (tmp_path / "vendor").mkdir()
    shutil.copy(htmx[-1], tmp_path / "vendor" / htmx[-1].name)
    (tmp_path / "index.html").write_text(LIANFU_PAGE.replace("{htmx}", htmx[-1].name), encoding="utf-8")

    options = PHONE if device == "phone" else DESKTOP
    width = options["viewport"]["width"]
    with serve_directory(tmp_path) as base_url:
        context = browser.new_context(**options)
        try:
            page = context.new_page()
            errors = _collect_errors(page)
            page.goto(f"{base_url}/index.html", wait_until="load")
            assert page.title() == "工单列表 · 警企联服"
            assert page.evaluate("typeof window.htmx") == "object"
            # The stylesheet applied: header in police blue, labels above inputs.
            assert page.evaluate("getComputedStyle(document.querySelector('.site-header')).backgroundColor") == (
                "rgb(31, 78, 140)"
            )
            label_box = page.locator("label[for=title]").bounding_box()
            input_box = page.locator("#title").bounding_box()
            assert label_box is not None and input_box is not None
            assert label_box["y"] + label_box["height"] <= input_box["y"] + 1
            # Never any sideways scrolling of the page.
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            if device == "phone":
                # Lists became cards: each row is a block as wide as the content area.
                assert page.evaluate("getComputedStyle(document.querySelector('.list-cards tr')).display") == "block"
            _screenshot(page, f"lianfu-css-{device}.png")
            assert errors == []
        finally:
            context.close()
