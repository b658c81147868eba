"""A report as a page with its charts' tables, as a PDF (read back with pdftotext) and as a workbook (read back with
openpyxl); who may read which report, and the refusals of everyone else."""
from __future__ import annotations

import io
import shutil
import subprocess
import uuid
from datetime import datetime
from typing import Any

import pytest
from openpyxl import load_workbook

from common.db import Database
from common.reports import service
from support import add_risk_reports

NOVEMBER = datetime.fromisoformat("2026-11-15T10:00:00+08:00")


def compiled(db: Database, world: dict[str, Any], kind: str = "monthly", period: str = "2026-11") -> uuid.UUID:
    add_risk_reports(db, world, NOVEMBER, [("sh", "economic_dispute", "high", "adopted"),
                                           ("sh", "other", "medium", "adopted"), ("sz", "other", "low", "adopted")])
    with db.transaction() as session:
        report, _ = service.compile_report(session, kind, period)
        return report.id


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) is not installed")
def test_the_pdf_holds_its_chinese_title_and_figures(db: Database, world: dict[str, Any], clients: Any) -> None:
    report_id = compiled(db, world)
    office = clients("office")
    response = office.get(f"/reports/{report_id}.pdf")
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    text = subprocess.run(["pdftotext", "-layout", "-", "-"], input=response.content, capture_output=True,
                          check=True).stdout.decode()
    assert "启东市警企联动服务中心" in text
    assert "2026-11 月度风险分析研判" in text
    assert "采纳风险信息" in text and "3" in text.split("采纳风险信息（条）")[1].split("\n")[0]
    fonts = subprocess.run(["pdffonts", "-"], input=response.content, capture_output=True).stdout.decode()
    assert "CJK" in fonts and " yes " in fonts  # embedded


def test_the_workbook_holds_the_same_tables(db: Database, world: dict[str, Any], clients: Any) -> None:
    report_id = compiled(db, world)
    response = clients("office").get(f"/reports/{report_id}.xlsx")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content))
    assert book["说明"]["A1"].value == "启东市警企联动服务中心"
    summary = {row[0]: row[1] for row in book["本月概况"].iter_rows(min_row=2, values_only=True)}
    assert summary["采纳风险信息（条）"] == 3
    by_category = list(book["风险信息-按类别"].iter_rows(min_row=2, values_only=True))
    assert sorted(n for _, n in by_category) == [1, 2]


def test_the_page_draws_charts_over_tables(db: Database, world: dict[str, Any], clients: Any) -> None:
    report_id = compiled(db, world, "quarterly", "2026-Q4")
    page = clients("office").get(f"/reports/{report_id}")
    assert page.status_code == 200
    assert 'id="report-data"' in page.text and "reports.js" in page.text and 'id="table-units"' in page.text
    assert "htmx-indicator" in page.text and 'href="/reports" aria-current="page"' in page.text
    listing = clients("leader").get("/reports")
    assert listing.status_code == 200 and "2026-Q4 季度工作小结" in listing.text
    # Compiled from the page: the form answers with the report's page.
    made = clients("office").post("/reports/compile", data={"period": "2026-H2"}, follow_redirects=False)
    assert made.status_code == 303 and made.headers["location"].startswith("/reports/")


PATHS = ["/reports", "/reports/{id}", "/reports/{id}.pdf", "/reports/{id}.xlsx", "/api/v1/reports",
         "/api/v1/reports/{id}"]
WRITES = [("POST", "/api/v1/reports", {"kind": "monthly", "period": "2026-10"}),
          ("PATCH", "/api/v1/reports/{id}", {"analysis": "越权"}), ("POST", "/api/v1/reports/{id}/bulletin", None),
          ("POST", "/reports/compile", None), ("POST", "/reports/{id}/edit", None), ("POST", "/reports/{id}/bulletin", None)]


@pytest.mark.parametrize("username", ["subcenter_sh", "subcenter_sz", "workstation_1"])
def test_sub_centers_and_enterprises_are_refused_every_report_path(
        username: str, db: Database, world: dict[str, Any], clients: Any) -> None:
    report_id = compiled(db, world)
    clients("office").patch(f"/api/v1/reports/{report_id}", json={"status": "published"})
    user = clients(username)
    for path in PATHS:
        response = user.get(path.format(id=report_id))
        assert response.status_code in (403, 404), (path, response.status_code)
    for method, path, body in WRITES:
        url = path.format(id=report_id)
        response = user.request(method, url, json=body) if body is not None else user.request(method, url)
        assert response.status_code in (403, 404), (method, path, response.status_code)


def test_liaison_officers_read_published_monthly_digests_only(db: Database, world: dict[str, Any], clients: Any) -> None:
    monthly = compiled(db, world)
    with db.transaction() as session:
        quarterly, _ = service.compile_report(session, "quarterly", "2026-Q3")
        quarterly_id = quarterly.id
    office, liaison, leader = clients("office"), clients("liaison_xz"), clients("leader")
    assert liaison.get(f"/api/v1/reports/{monthly}").status_code == 404  # a draft
    assert liaison.get("/api/v1/reports").json()["items"] == []
    assert leader.get(f"/api/v1/reports/{monthly}").status_code == 200  # the center's leaders read drafts
    office.patch(f"/api/v1/reports/{monthly}", json={"status": "published"})
    office.patch(f"/api/v1/reports/{quarterly_id}", json={"status": "published"})
    assert liaison.get(f"/api/v1/reports/{monthly}").status_code == 200
    assert liaison.get(f"/reports/{monthly}.pdf").status_code == 200
    assert liaison.get(f"/api/v1/reports/{quarterly_id}").status_code == 404
    for method, path, body in WRITES:
        url = path.format(id=monthly)
        response = liaison.request(method, url, json=body) if body is not None else liaison.request(method, url)
        assert response.status_code == 403, (method, path, response.status_code)
    # Published stays published.
    assert office.patch(f"/api/v1/reports/{monthly}", json={"status": "draft"}).status_code == 409


@pytest.mark.parametrize("db_kind", ["sqlite"])
def test_a_spoke_refuses_every_report_path(settings: Any, db: Database, world: dict[str, Any], tmp_path: Any) -> None:
    import time

    from litestar.testing import TestClient

    from spoke.app import create_app as create_spoke_app
    from tests.conftest import CSRF_RE
    from tests.sync_support import Federation

    fed = Federation(settings, db, tmp_path / "spokes")
    try:
        sh = fed.enroll("sc-shanghai")
        assert sh.sync().ok
        app = create_spoke_app(sh.settings.with_overrides(cookie_secure=False))
        app.state.hub_link = sh.link
        with TestClient(app, base_url="http://sc-shanghai.test") as browser:
            sh.link._down_until = time.monotonic() + 60  # noqa: SLF001 - log in offline, at the spoke itself
            csrf = CSRF_RE.search(browser.get("/login").text).group(1)  # type: ignore[union-attr]
            browser.post("/login", data={"username": "subcenter_sh", "password": "lianfu-demo", "csrf_token": csrf,
                                         "next": "/"})
            home = browser.get("/")
            assert home.status_code == 200 and 'href="/reports"' not in home.text
            headers = {"X-CSRF-Token": CSRF_RE.search(home.text).group(1)}  # type: ignore[union-attr]
            some = uuid.uuid4()
            for path in PATHS:
                page = browser.get(path.format(id=some))
                assert page.status_code == 403, (path, page.status_code)
            for method, path, body in WRITES:
                response = browser.request(method, path.format(id=some), json=body, headers=headers)
                assert response.status_code == 403, (method, path, response.status_code)
            api = browser.get("/api/v1/reports")
            assert "中心节点" in api.json()["detail"]
    finally:
        fed.close()


def test_the_pdf_draws_each_tables_chart_to_scale(db: Database, world: dict[str, Any]) -> None:
    import re
    import xml.etree.ElementTree as ET

    from common.reports import documents
    from common.reports.models import Report
    from common.reports.tables import tables

    report_id = compiled(db, world)
    with db.reads() as session:
        report = session.get(Report, report_id)
        page = documents.html(report)
        charted = [t for t in tables(report) if t.chart and t.rows]
    svgs = re.findall(r"<svg class=\"chart\".*?</svg>", page, flags=re.S)
    assert len(svgs) == len(charted) >= 4
    for table, svg in zip(charted, svgs):
        root = ET.fromstring(svg)
        ns = "{http://www.w3.org/2000/svg}"
        assert root.find(f"{ns}title").text == table.title
        labels = [t.text for t in root.iter(f"{ns}text")]
        bars = [float(r.get("width")) for r in root.iter(f"{ns}rect")]
        values = [row[table.chart[0]] for row in table.rows]
        # One bar per row, each as long as its figure is large; each figure written beside its bar.
        assert len(bars) == len(values)
        longest = max(values)
        for width, value in zip(bars, values):
            assert width == pytest.approx(max(bars) * value / longest, abs=0.6)
        assert all(str(row[0]) in labels for row in table.rows)
        assert all(str(v) in labels for v in values)
