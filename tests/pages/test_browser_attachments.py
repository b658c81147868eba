"""Uploaded files in a real headless Chromium against a real hub process.

The office opens an attachment that is a page with a script, stored before uploads were checked (as a spoke's
sync could have brought it): Chromium downloads it, the script never runs, nothing it asks for is requested, and
the office's page stays where it was. A picture still shows. A workstation head who attaches a page, a file over
the limit, or more than any form sends, reads why in Chinese, on the form or on an error page, never a reset
connection. The hub runs with `LIANFU_MAX_UPLOAD_MB=1` so the files stay small.
"""
from __future__ import annotations

import contextlib
import shutil
import tempfile
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import BROWSER_MARKS, DESKTOP, PHONE, chromium_session
from tests.live_hub import _environment, _serve, seed_demo_into

pytestmark = BROWSER_MARKS

TIMEOUT_MS = 10_000
PASSWORD = "lianfu-demo"
MB = 1024 * 1024
# Everything it would do leaves a trace: a changed title, requests the test watches for, a navigation away.
PAGE = b"""<!DOCTYPE html><html><head><title>invoice</title></head><body>
<script>
document.title = "pwned";
fetch("/healthz?pwned=fetch", {credentials: "include"});
new Image().src = "/static/pwned.png?pwned=image";
setTimeout(function () { location.href = "/healthz?pwned=navigation"; }, 50);
</script><p>Invoice</p><img src="/static/pwned.png?pwned=markup" alt=""></body></html>"""


def png() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
            + chunk(b"IEND", b""))


def _store_attachments(data_dir: Path) -> dict[str, str]:
    """Rows and bytes as an older spoke's sync could have left them: a page, and a picture that claims to be one."""
    from sqlalchemy import select

    from common.attachments.blobs import BlobStore
    from common.db import Database
    from common.models import Attachment, Enterprise

    blobs = BlobStore(data_dir / "blobs")
    database = Database.connect(f"sqlite:///{data_dir / 'lianfu.db'}")
    made: dict[str, str] = {}
    try:
        with database.transaction() as session:
            owner = session.scalars(select(Enterprise).where(Enterprise.node_id == "ws-demo-1").limit(1)).one()
            for key, data, claimed, name in (("page", PAGE, "text/html", "invoice.html"),
                                             ("picture", png(), "text/html", "现场.png")):
                row = Attachment(node_id=owner.node_id, sha256=blobs.put(data), size=len(data), content_type=claimed,
                                 filename=name, entity_type="enterprise", entity_id=owner.id)
                session.add(row)
                session.flush()
                made[key] = str(row.id)
    finally:
        database.dispose()
    return made


@contextlib.contextmanager
def hub_with_attachments() -> Iterator[tuple[str, dict[str, str]]]:
    data_dir = Path(tempfile.mkdtemp(prefix="lianfu-attachments-hub-"))
    try:
        env = {**_environment(data_dir), "LIANFU_MAX_UPLOAD_MB": "1"}
        seed_demo_into(data_dir, env, 12)
        made = _store_attachments(data_dir)
        with _serve(data_dir, env, 60) as base_url:
            yield base_url, made
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def hub() -> Iterator[tuple[str, dict[str, str]]]:
    with hub_with_attachments() as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium_session(TIMEOUT_MS)


def person(browser: Any, base_url: str, device: dict[str, Any], username: str, next_path: str) -> tuple[Any, Any]:
    context = browser.new_context(**device, locale="zh-CN", accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(f"{base_url}/login?next={next_path}")
    page.fill("#f-username", username)
    page.fill("#f-password", PASSWORD)
    with page.expect_navigation():
        page.click(".login-card button[type=submit]")
    return context, page


def test_the_office_opens_an_uploaded_page_and_its_script_never_runs(browser: Any,
                                                                     hub: tuple[str, dict[str, str]]) -> None:
    from playwright.sync_api import Error as PlaywrightError

    base_url, made = hub
    context, page = person(browser, base_url, DESKTOP, "office", "/enterprises")
    requested: list[str] = []
    context.on("request", lambda request: requested.append(request.url))
    try:
        page.wait_for_url(f"{base_url}/enterprises")
        before = page.title()
        with page.expect_download() as downloading:
            with contextlib.suppress(PlaywrightError):  # Chromium reports the navigation aborted: it is a download
                page.goto(f"{base_url}/attachments/{made['page']}")
        download = downloading.value
        assert download.suggested_filename == "invoice.html"
        assert Path(download.path()).read_bytes() == PAGE
        page.wait_for_timeout(500)  # time the script would have had
        assert page.url == f"{base_url}/enterprises" and page.title() == before != "pwned"
        assert not [url for url in requested if "pwned" in url], requested

        served = page.request.get(f"{base_url}/attachments/{made['page']}")
        assert served.headers["content-disposition"].startswith("attachment;")
        assert served.headers["content-type"] == "application/octet-stream"
        assert served.headers["content-security-policy"] == "sandbox; default-src 'none'"
        assert served.headers["x-content-type-options"] == "nosniff"

        # A picture is still shown, as the picture its bytes are (its row claims it is a page).
        shown = page.goto(f"{base_url}/attachments/{made['picture']}")
        assert shown is not None and shown.headers["content-type"] == "image/png"
        assert page.evaluate("document.contentType") == "image/png"
        assert page.evaluate("document.images.length === 1 && document.images[0].naturalWidth === 1")
    finally:
        context.close()


def test_a_workstation_head_is_told_why_a_file_is_refused(browser: Any, hub: tuple[str, dict[str, str]],
                                                          tmp_path: Path) -> None:
    from playwright.sync_api import expect

    base_url, _ = hub
    context, page = person(browser, base_url, PHONE, "workstation_1", "/cases/new")
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    try:
        page.wait_for_url(f"{base_url}/cases/new")

        def raise_with(*files: dict[str, Any]) -> None:
            page.select_option("#f-category", "economic_dispute")
            expect(page.locator('select[name="details.dispute_kind"]')).to_be_visible()
            page.select_option('select[name="details.dispute_kind"]', "labour")
            page.fill('input[name="details.amount"]', "85000")
            page.fill("#f-title", "分包方拖欠劳务费")
            page.fill("#f-description", "分包方拖欠 30 名工人劳务费。")
            expect(page.locator("#picker-enterprise_id input[name=enterprise_id]")).to_have_count(1)  # its one, fixed
            page.set_input_files("#f-files", files=list(files))
            with page.expect_navigation():
                page.click("button[type=submit] >> text=提交诉求")

        raise_with({"name": "invoice.html", "mimeType": "text/html", "buffer": PAGE})
        expect(page.locator("#e-file")).to_contain_text("“invoice.html”不是可接受的文件类型")
        expect(page.locator("#f-title")).to_have_value("分包方拖欠劳务费")

        big = b"%PDF-1.4\n" + bytes(MB)
        raise_with({"name": "合同扫描件.pdf", "mimeType": "application/pdf", "buffer": big})
        expect(page.locator("#e-file")).to_contain_text("“合同扫描件.pdf”超过 1 MB：每个文件最大 1 MB")

        # More than any form sends: refused before it is read, and the browser still shows why.
        huge = tmp_path / "全部扫描件.pdf"
        huge.write_bytes(b"%PDF-1.4\n" + bytes(12 * MB))
        raise_with({"name": huge.name, "mimeType": "application/pdf", "buffer": huge.read_bytes()})
        expect(page.locator("h1")).to_have_text("内容过大")
        expect(page.locator("main")).to_contain_text("一次提交的文件合计超过 11 MB。每个文件最大 1 MB")
    finally:
        context.close()
