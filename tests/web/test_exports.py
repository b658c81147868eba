"""The lists as Excel workbooks: the same rows as the API for the same filters, the caller's scope, masked personal
data, headers in the page's language, a dated file name, an audit entry per export, and fields an importer reads."""
from __future__ import annotations

import io
import re
from typing import Any
from urllib.parse import unquote

from openpyxl import load_workbook
from sqlalchemy import select

from common.db import Database
from common.models import AuditEntry
from common.roster.exports import ENTERPRISE_FIELDS
from common.web.xlsx import FIELDS_SHEET, XLSX, code_for, fields_of, read_fields, today
from common.roster.exports import enterprise_columns
from common.policy import Principal
from common.models import utcnow
from common.validation import make_credit_code


def workbook(client: Any, path: str, params: dict[str, Any] | None = None) -> tuple[list[str], list[dict[str, Any]], Any]:
    """Headers, rows (header → value) and the response of one export."""
    response = client.get(path, params=params or {})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == XLSX
    book = load_workbook(io.BytesIO(response.content), read_only=True)
    sheet = book.worksheets[0]
    table = [list(r) for r in sheet.iter_rows(values_only=True)]
    headers = [str(h) for h in table[0]]
    rows = [dict(zip(headers, r)) for r in table[1:]]
    book.close()
    return headers, rows, response


def api_items(client: Any, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every row of a JSON list, page after page."""
    items: list[dict[str, Any]] = []
    offset: int | None = 0
    while offset is not None:
        body = client.get(path, params={**(params or {}), "limit": 2, "offset": offset}).json()
        items += body["items"]
        offset = body["next_offset"]
    return items


def exports_of(db: Database) -> list[AuditEntry]:
    with db.reads() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == "export").order_by(AuditEntry.seq)))


def test_the_enterprise_workbook_holds_the_apis_rows_for_the_same_filter(clients: Any, db: Database) -> None:
    office = clients("office")
    made = office.post("/api/v1/enterprises", json={"name": "启东某贸易公司", "credit_code": make_credit_code("9", "1", "320681", "77777777"),
                                                    "region_code": "320681", "industry": "trade"})
    assert made.status_code == 201, made.text
    for params in ({"industry": "construction"}, {"q": "测试"}, {}):
        headers, rows, response = workbook(office, "/enterprises.xlsx", params)
        expected = api_items(office, "/api/v1/enterprises", params)
        assert [(r["企业名称"], r["统一社会信用代码"]) for r in rows] == [(e["name"], e["credit_code"]) for e in expected]
        assert ("启东某贸易公司" in {r["企业名称"] for r in rows}) == (params == {})
    headers, rows, response = workbook(office, "/enterprises.xlsx", {"industry": "construction"})
    assert headers[:4] == ["企业名称", "统一社会信用代码", "行政区划代码", "所在地区"]
    assert "风险等级" in headers and "重点企业" in headers
    first = next(r for r in rows if r["企业名称"] == "启东测试sh建设工程有限公司")
    # Values as people read them: labels for codes, region and node names.
    assert first["行业"] == "建筑工程"
    assert first["所在地区"].startswith("上海市") and first["所属节点"] != "sc-shanghai" and first["风险等级"] == "低风险"
    assert first["重点企业"] == "否" and first["行政区划代码"] == "310115"
    # The file name carries the day in Beijing, in Chinese and in ASCII.
    day = today(utcnow()).isoformat()
    disposition = response.headers["content-disposition"]
    assert int(response.headers["content-length"]) == len(response.content)
    assert response.headers["cache-control"] == "no-store"
    assert disposition.startswith("attachment;") and f'filename="enterprises-{day}.xlsx"' in disposition
    assert unquote(disposition.split("filename*=UTF-8''", 1)[1]) == f"企业名册-{day}.xlsx"
    # A workbook is a zip already: sent as it is, not gzipped again.
    assert "content-encoding" not in office.get("/enterprises.xlsx", headers={"Accept-Encoding": "gzip"}).headers


def test_each_export_is_audited_with_its_filters_and_row_count(clients: Any, db: Database) -> None:
    before = len(exports_of(db))
    sub = clients("subcenter_sh")
    _, rows, _ = workbook(sub, "/enterprises.xlsx", {"industry": "construction", "q": ""})
    _, people, _ = workbook(sub, "/people.xlsx")
    entries = exports_of(db)[before:]
    assert [(e.actor, e.entity_type) for e in entries] == [("subcenter_sh", "enterprise"), ("subcenter_sh", "person")]
    assert entries[0].detail == {"filters": {"industry": "construction"}, "rows": len(rows)}
    assert entries[1].detail["rows"] == len(people) == 2


def test_exports_stay_in_the_callers_scope(clients: Any, world: dict[str, Any]) -> None:
    for username, names in (("subcenter_sh", {"启东测试sh建设工程有限公司", "启东测试ws建设工程有限公司"}),
                            ("workstation_1", {"启东测试ws建设工程有限公司"})):
        client = clients(username)
        _, rows, _ = workbook(client, "/enterprises.xlsx")
        assert {r["企业名称"] for r in rows} == names
        _, people, _ = workbook(client, "/people.xlsx")
        assert {p["企业名称"] for p in people} == names
        assert sorted(p["姓名"] for p in people) == sorted(p["name"] for p in api_items(client, "/api/v1/people"))
        _, cases, _ = workbook(client, "/cases.xlsx", {"status": ""})
        assert {c["企业名称"] for c in cases} == names
        _, visits, _ = workbook(client, "/visits.xlsx")
        assert {v["企业名称"] for v in visits} == names
    # Another tenant's enterprise as a filter finds nothing.
    _, people, _ = workbook(clients("workstation_1"), "/people.xlsx", {"enterprise_id": str(world["enterprises"]["sz"])})
    assert people == []


def test_the_enterprise_role_gets_no_police_columns_nor_their_filters(clients: Any) -> None:
    station = clients("workstation_1")
    headers, rows, _ = workbook(station, "/enterprises.xlsx")
    assert "风险等级" not in headers and "重点企业" not in headers and len(rows) == 1
    # Filtering by risk level would tell it all the same: the filter is not applied.
    _, filtered, _ = workbook(station, "/enterprises.xlsx", {"risk_level": "high", "is_key": "1"})
    assert len(filtered) == 1


def test_no_full_id_number_or_phone_leaves_in_a_people_workbook(clients: Any, world: dict[str, Any]) -> None:
    full_id, full_phone = re.compile(r"\d{17}[\dX]"), re.compile(r"1\d{10}")
    for username in ("office", "leader", "liaison_xz", "subcenter_sh", "workstation_1"):
        client = clients(username)
        headers, people, _ = workbook(client, "/people.xlsx")
        assert people and {"身份证号", "手机号"} <= set(headers)
        for person in people:
            assert not full_id.search(person["身份证号"] or "") and "*" in person["身份证号"]
            assert not full_phone.search(person["手机号"] or "") and "*" in person["手机号"]
    office = clients("office")
    _, one, _ = workbook(office, "/people.xlsx", {"enterprise_id": str(world["enterprises"]["sh"])})
    assert [(p["姓名"], p["手机号"]) for p in one] == [("张sh", "138****0000")]
    assert one[0]["身份证号"].startswith("320681") and one[0]["企业名称"] == "启东测试sh建设工程有限公司"


def test_headers_are_chinese_by_default_and_english_on_request(clients: Any) -> None:
    office = clients("office")
    columns = (("/enterprises.xlsx", "企业名称", "Enterprise name"), ("/people.xlsx", "身份证号", "ID number"),
               ("/cases.xlsx", "工单编号", "Case number"), ("/visits.xlsx", "巡访时间", "Visited at"))
    for path, chinese, english in columns:
        headers, _, _ = workbook(office, path)
        assert chinese in headers and english not in headers
    for path, chinese, english in columns:  # (the choice of language is remembered, as on the pages)
        headers, _, _ = workbook(office, path, {"lang": "en"})
        assert english in headers and chinese not in headers
    _, rows, response = workbook(office, "/enterprises.xlsx", {"lang": "en"})
    assert {r["Industry"] for r in rows} >= {"Construction"} and {r["Key enterprise"] for r in rows} == {"No"}
    assert "filename*=UTF-8''Enterprise%20register-" in response.headers["content-disposition"]


def test_case_and_visit_workbooks_hold_the_lists_rows_as_people_read_them(clients: Any, world: dict[str, Any]) -> None:
    office = clients("office")
    _, cases, _ = workbook(office, "/cases.xlsx", {"status": "", "category": "economic_dispute"})
    expected = api_items(office, "/api/v1/cases", {"category": "economic_dispute"})
    assert sorted(c["工单编号"] for c in cases) == sorted(c["number"] for c in expected) and len(cases) == 4
    sh = next(c for c in cases if c["标题"] == "sh 工程款纠纷")
    assert sh["状态"] == "已分派" and sh["受理渠道"] == "工作平台"
    assert sh["主办单位"] == "刑侦大队" and sh["类别"] == "经济纠纷指导" and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", sh["提出时间"])
    # The queue's own filter: the liaison's unit's cases only.
    _, mine, _ = workbook(clients("liaison_xz"), "/cases.xlsx")
    assert [c["标题"] for c in mine] == ["sh 工程款纠纷"]
    _, visits, _ = workbook(office, "/visits.xlsx", {"kind": "safety"})
    assert len(visits) == len(api_items(office, "/api/v1/visits", {"kind": "safety"})) == 3
    assert {v["巡访时间"] for v in visits} == {"2026-11-01 10:00"}  # Beijing time, as the page shows it
    assert {v["巡访类型"] for v in visits} == {"安全巡访"}
    _, none, _ = workbook(office, "/visits.xlsx", {"date_from": "2026-11-02"})
    assert none == []


def test_an_edited_workbook_reads_back_by_field_and_text_never_runs_as_a_formula(clients: Any, tmp_path: Any) -> None:
    office = clients("office")
    made = office.post("/api/v1/enterprises", json={"name": "=HYPERLINK(\"http://x\",\"点\")", "credit_code": make_credit_code("9", "1", "320681", "77777777"),
                                                    "region_code": "320681", "industry": "trade"})
    assert made.status_code == 201, made.text
    response = office.get("/enterprises.xlsx")
    book = load_workbook(io.BytesIO(response.content))
    sheet = book.worksheets[0]
    cells = [row[0] for row in sheet.iter_rows(min_row=2)]
    formula = next(c for c in cells if str(c.value).startswith("="))
    assert formula.data_type == "s"
    assert book[FIELDS_SHEET].sheet_state == "hidden"
    saved = tmp_path / "edited.xlsx"
    saved.write_bytes(response.content)
    assert read_fields(str(saved)) == ENTERPRISE_FIELDS
    # Headers map back to fields in either language, for a workbook whose hidden sheet was lost.
    office_columns = enterprise_columns(Principal(None, "office", "office", "hub"), {})
    headers = [c.value for c in sheet[1]]
    assert fields_of(headers, office_columns) == ENTERPRISE_FIELDS
    assert fields_of(["Enterprise name", "Unified social credit code", "备注"], office_columns) == ["name", "credit_code", None]
    # Labels map back to codes in either language.
    by_field = {c.field: c for c in office_columns}
    assert code_for(by_field["industry"], "建筑工程") == "construction" == code_for(by_field["industry"], "Construction")
    assert code_for(by_field["is_key"], "是") is True and code_for(by_field["risk_level"], "High risk") == "high"
    assert code_for(by_field["industry"], "不知道") == "不知道"


def test_list_pages_offer_the_export_with_their_filters_and_strangers_get_the_login(clients: Any, world: dict[str, Any]) -> None:
    office = clients("office")
    page = office.get("/enterprises?industry=construction&q=测试").text
    assert 'href="/enterprises.xlsx?q=%E6%B5%8B%E8%AF%95&amp;industry=construction&amp;risk_level=&amp;is_key="' in page
    assert "导出 Excel" in page
    swapped = office.get("/cases?status=filed", headers={"HX-Request": "true"}).text
    assert 'href="/cases.xlsx?q=&amp;status=filed&amp;' in swapped
    assert 'href="/visits.xlsx?q=&amp;kind=safety&amp;' in office.get("/visits?kind=safety").text
    detail = office.get(f"/enterprises/{world['enterprises']['sh']}").text
    assert f'href="/people.xlsx?enterprise_id={world["enterprises"]["sh"]}"' in detail
    stranger = clients().get("/enterprises.xlsx", headers={"Accept": "text/html"}, follow_redirects=False)
    assert stranger.status_code in (302, 303) and stranger.headers["location"].startswith("/login")


def test_a_spoke_serves_the_exports_of_its_own_copy(settings: Any, db: Database, world: dict[str, Any], tmp_path: Any) -> None:
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
            names = {"启东测试sh建设工程有限公司", "启东测试ws建设工程有限公司"}
            for path, column in (("/enterprises.xlsx", "企业名称"), ("/people.xlsx", "企业名称"),
                                 ("/cases.xlsx", "企业名称"), ("/visits.xlsx", "企业名称")):
                _, rows, _ = workbook(browser, path, {"status": ""} if path == "/cases.xlsx" else {})
                assert {r[column] for r in rows} == names, path
        # Recorded in the spoke's own trail, where the export was made.
        exported = [(e.actor, e.entity_type, e.node_id) for e in exports_of(app.state.db)]
        assert exported == [("subcenter_sh", kind, "sc-shanghai") for kind in ("enterprise", "person", "case", "visit")]
    finally:
        fed.close()


def test_the_writer_keeps_text_as_text_and_the_sheet_laid_out(tmp_path: Any) -> None:
    from common.web.xlsx import Column, write_workbook

    columns = [Column("name", "Enterprise name", lambda r: r[0], 36), Column("count", "Attendance", lambda r: r[1], 8),
               Column("flag", "Emergency", lambda r: r[2], 10)]
    path = tmp_path / "book.xlsx"
    rows = [("=1+1", 3, True), ("启东\x01建工\x1f集团", None, False), ("", 2.5, None), ("@SUM(A1)", 0, False)]
    assert write_workbook(str(path), "名册", columns, iter(rows)) == 4
    book = load_workbook(path)
    sheet = book.worksheets[0]
    assert sheet.title == "名册" and sheet.freeze_panes == "A2"
    assert [round(sheet.column_dimensions[c].width) for c in "ABC"] == [37, 9, 11]
    table = [[c.value for c in row] for row in sheet.iter_rows()]
    assert table[0] == ["企业名称", "参加人数", "应急"]
    assert table[1:] == [["=1+1", 3, True], ["启东建工集团", None, False], [None, 2.5, None], ["@SUM(A1)", 0, False]]
    assert sheet["A2"].data_type == "s" and sheet["A5"].data_type == "s"
    assert book[FIELDS_SHEET].sheet_state == "hidden"
    assert read_fields(str(path)) == ["name", "count", "flag"]
