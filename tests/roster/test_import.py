"""Importing the roster from Excel: the template, the checks row by row, all-or-nothing, updates by credit code and
ID number, scope, the audit entry, an exported workbook read back, and hostile files."""
from __future__ import annotations

import io
import time
import zipfile
from datetime import date
from typing import Any

from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from common.db import Database
from common.models import AuditEntry, Enterprise, Person, RosterImport
from common.validation import make_credit_code, make_id_number

ENTERPRISE_HEADERS = ["企业名称*", "统一社会信用代码*", "行政区划代码*", "行业", "地址", "联系电话", "风险等级", "重点企业"]
PEOPLE_HEADERS = ["统一社会信用代码*", "姓名*", "身份证号*", "手机号", "职务", "离职日期"]


def code(n: int, region: str = "310115") -> str:
    return make_credit_code("9", "1", region, f"7{n:07d}")


def person_id(n: int) -> str:
    return make_id_number("320681", date(1985, 1, 1 + n % 28), 100 + n)


def workbook(enterprises: list[list[Any]], people: list[list[Any]] | None = None, *,
             enterprise_headers: list[str] = ENTERPRISE_HEADERS, people_headers: list[str] = PEOPLE_HEADERS) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = "企业"
    sheet.append(enterprise_headers)
    for row in enterprises:
        sheet.append(row)
    if people is not None:
        other = book.create_sheet("人员")
        other.append(people_headers)
        for row in people:
            other.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def send(client: Any, content: bytes, dry_run: bool, name: str = "名册.xlsx") -> Any:
    return client.post("/api/v1/enterprises/import", data={"dry_run": "true" if dry_run else "false"},
                       files={"file": (name, content, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")})


def count(db: Database, model: Any) -> int:
    with db.reads() as session:
        return session.scalar(select(func.count()).select_from(model).where(model.deleted_at.is_(None)))


def test_a_clean_workbook_is_previewed_without_writing_then_imported_whole_and_audited_once(
        clients: Any, db: Database) -> None:
    office = clients("office")
    content = workbook(
        [["启东江海建设有限公司上海分公司", code(1), "310115", "建筑工程", "浦东新区川沙路1号", "13800001111", "中风险", "是"],
         ["启东通达物流有限公司", code(2), 310115, "", "", "", "", ""]],
        [[code(1), "陈建华", person_id(1), "13900001111", "项目经理", None],
         [code(2), "王芳", person_id(2), "", "", None]])
    before = (count(db, Enterprise), count(db, Person))
    preview = send(office, content, dry_run=True)
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["problems"] == []
    assert body["ok"] is True and body["written"] is False and body["problems"] == []
    assert body["counts"]["enterprises_created"] == 2 and body["counts"]["people_created"] == 2
    assert (count(db, Enterprise), count(db, Person)) == before

    done = send(office, content, dry_run=False)
    assert done.status_code == 200, done.text
    assert done.json()["written"] is True
    assert (count(db, Enterprise), count(db, Person)) == (before[0] + 2, before[1] + 2)
    found = office.get("/api/v1/enterprises", params={"q": code(1)}).json()["items"]
    assert len(found) == 1
    first = found[0]
    assert first["industry"] == "construction" and first["risk_level"] == "medium" and first["is_key"] is True
    assert first["node"] == "hub" and first["contact_phone"] == "138****1111"
    # The pinyin search knows the new names at once.
    assert any(i["credit_code"] == code(2) for i in office.get("/api/v1/enterprises", params={"q": "qdtd"}).json()["items"])
    people = office.get("/api/v1/people", params={"enterprise_id": first["id"]}).json()["items"]
    assert [p["name"] for p in people] == ["陈建华"] and people[0]["id_number"].startswith("320681")
    with db.reads() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "import")).all()
        # One entry for the whole workbook, with its counts; no entry per row.
        assert len(entries) == 1
        assert entries[0].detail["enterprises_created"] == 2 and entries[0].detail["people_created"] == 2
        assert entries[0].detail["file"] == "名册.xlsx" and len(entries[0].detail["sha256"]) == 64
        assert session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "create", AuditEntry.entity_type.in_(["enterprise", "person"]))) == 8  # the world's own


def test_every_problem_is_listed_in_chinese_with_its_row_and_nothing_is_written(clients: Any, db: Database,
                                                                                world: dict[str, Any]) -> None:
    office = clients("office")
    with db.reads() as session:
        held = session.get(Enterprise, world["enterprises"]["sh"])
        held_code, held_name = held.credit_code, held.name
    bad_code = code(3)[:-1] + ("0" if code(3)[-1] != "0" else "1")
    bad_id = person_id(3)[:-1] + ("0" if person_id(3)[-1] != "0" else "1")
    sz_person = make_id_number("320681", date(1980, 1, 2), 901)  # 张sz, working at the Suzhou test enterprise
    content = workbook(
        [["启东一号有限公司", code(4), "310115", "建筑工程", "", "", "", ""],
         ["", bad_code, "999999", "造船", "", "12345", "", ""],
         ["启东重复有限公司", code(4), "310115", "", "", "", "", ""]],
        [[code(4), "李四", bad_id, "", "", None],
         [code(4), "李五", person_id(5), "", "", None],
         [code(4), "李五又", person_id(5), "", "", None],
         [code(9), "赵六", person_id(6), "", "", None],
         [code(4), "张苏州", sz_person, "", "", None]])
    before = (count(db, Enterprise), count(db, Person))
    answer = send(office, content, dry_run=True).json()
    assert answer["ok"] is False
    problems = {(p["sheet"], p["row"], p["field"]): p["message"] for p in answer["problems"]}
    assert ("enterprises", 3, "name") in problems
    assert ("enterprises", 3, "credit_code") in problems and "校验" in problems[("enterprises", 3, "credit_code")]
    assert ("enterprises", 3, "region_code") in problems
    assert ("enterprises", 3, "industry") in problems
    assert ("enterprises", 3, "contact_phone") in problems
    assert "第 2 行" in problems[("enterprises", 4, "credit_code")]
    assert ("people", 2, "id_number") in problems
    assert "第 3 行" in problems[("people", 4, "id_number")]
    assert ("people", 5, "credit_code") in problems
    assert "启东测试sz建设工程有限公司" in problems[("people", 6, "id_number")]
    # The same workbook sent for real is refused whole: 422 with the same list, not a row written.
    refused = send(office, content, dry_run=False)
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert len(refused.json()["problems"]) == len(answer["problems"])
    assert (count(db, Enterprise), count(db, Person)) == before
    del held_code, held_name


def test_rows_matched_by_credit_code_and_id_number_are_updated_and_empty_cells_keep_what_is_stored(
        clients: Any, db: Database, world: dict[str, Any]) -> None:
    office = clients("office")
    with db.reads() as session:
        held = session.get(Enterprise, world["enterprises"]["sh"])
        person = session.get(Person, world["people"]["sh"])
        held_code, address, number, version = held.credit_code, held.address, person.id_number, held.version
    content = workbook([[held.name, held_code, "310115", "", "", "", "高", ""]],
                       [[held_code, person.name, number, "13911112222", "总经理", None],
                        [held_code, "新来的", person_id(7), "", "安全员", None]])
    answer = send(office, content, dry_run=False).json()
    assert answer["counts"] == {"enterprises_created": 0, "enterprises_updated": 1, "people_created": 1,
                                "people_updated": 1, "unchanged": 0, "problems": 0}
    with db.reads() as session:
        held = session.get(Enterprise, world["enterprises"]["sh"])
        assert held.risk_level == "high" and held.address == address  # an empty cell kept the address
        assert held.version > version and "risk_level" in held.field_versions  # stamped for sync like any write
        assert session.get(Person, world["people"]["sh"]).position == "总经理"
    # The same workbook again changes nothing.
    again = send(office, content, dry_run=True).json()
    assert again["counts"]["unchanged"] == 3 and again["counts"]["enterprises_updated"] == 0


def test_an_exported_workbook_edited_imports_back(clients: Any, db: Database, world: dict[str, Any]) -> None:
    office = clients("office")
    exported = office.get("/enterprises.xlsx", params={"q": "启东测试sh"})
    assert exported.status_code == 200
    book = load_workbook(io.BytesIO(exported.content))
    sheet = book.worksheets[0]
    headers = [c.value for c in sheet[1]]
    sheet.cell(row=2, column=headers.index("地址") + 1, value="浦东新区新地址9号")
    out = io.BytesIO()
    book.save(out)
    answer = send(office, out.getvalue(), dry_run=False)
    assert answer.status_code == 200, answer.text
    # The masked phone and the node's name came back as exported: they are understood, not refused.
    assert answer.json()["counts"]["enterprises_updated"] == 1
    with db.reads() as session:
        assert session.get(Enterprise, world["enterprises"]["sh"]).address == "浦东新区新地址9号"


def test_a_subcenter_imports_only_within_its_scope(clients: Any, db: Database, world: dict[str, Any]) -> None:
    sub = clients("subcenter_sh")
    with db.reads() as session:
        suzhou_code = session.get(Enterprise, world["enterprises"]["sz"]).credit_code
    content = workbook([["启东苏州改名有限公司", suzhou_code, "320505", "", "", "", "", ""],
                        ["启东上海新企业有限公司", code(11), "310115", "", "", "", "高", ""]])
    answer = send(sub, content, dry_run=True).json()
    problems = {(p["row"], p["field"]): p["message"] for p in answer["problems"]}
    assert "范围" in problems[(2, "credit_code")]
    # The risk level is the police's to set.
    assert (3, "risk_level") in problems
    fine = send(sub, workbook([["启东上海新企业有限公司", code(11), "310115", "", "", "", "", ""]]), dry_run=False)
    assert fine.status_code == 200, fine.text
    assert sub.get("/api/v1/enterprises", params={"q": code(11)}).json()["items"][0]["node"] == "sc-shanghai"
    # A liaison officer or an enterprise does not import the roster.
    assert send(clients("liaison_xz"), content, dry_run=True).status_code == 403


def test_hostile_and_wrong_files_get_a_clear_refusal(clients: Any, db: Database) -> None:
    office = clients("office")
    before = count(db, Enterprise)
    not_a_book = send(office, "名称,代码\n甲,乙\n".encode(), dry_run=True, name="roster.csv")
    assert not_a_book.status_code == 422 and "xlsx" in not_a_book.json()["detail"]
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("xl/worksheets/sheet1.xml", b"0" * (450 * 1024 * 1024))
    refused = send(office, bomb.getvalue(), dry_run=True)
    assert refused.status_code == 422 and "解压" in refused.json()["detail"]
    other = workbook([["x"]], enterprise_headers=["随便一列"])
    assert "表头" in send(office, other, dry_run=True).json()["detail"]
    numbers = workbook([["启东数字有限公司", 913101157000001234, "310115", "", "", "", "", ""]])
    answer = send(office, numbers, dry_run=True).json()
    assert "文本" in answer["problems"][0]["message"]
    assert count(db, Enterprise) == before


def test_the_template_has_both_sheets_with_chinese_headers_and_reads_back(clients: Any) -> None:
    office = clients("office")
    response = office.get("/enterprises/import/template.xlsx")
    assert response.status_code == 200
    assert "filename*=UTF-8''" in response.headers["content-disposition"]
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames[1:] == ["企业", "人员"]
    assert [c.value for c in book["企业"][1]][:3] == ["企业名称*", "统一社会信用代码*", "行政区划代码*"]
    assert "身份证号*" in [c.value for c in book["人员"][1]]
    # The template itself, filled in, is what the importer reads.
    book["企业"].append(["启东模板有限公司", code(21), "310115"])
    out = io.BytesIO()
    book.save(out)
    assert send(office, out.getvalue(), dry_run=True).json()["counts"]["enterprises_created"] == 1
    # A sub-center's template has no police columns.
    sub_book = load_workbook(io.BytesIO(clients("subcenter_sh").get("/enterprises/import/template.xlsx").content))
    assert "风险等级" not in [c.value for c in sub_book["企业"][1]]


def test_the_page_checks_with_progress_then_imports_on_confirmation(clients: Any, db: Database) -> None:
    office = clients("office")
    page = office.get("/enterprises/import")
    assert page.status_code == 200 and "下载模板" in page.text
    content = workbook([["启东页面导入有限公司", code(31), "310115", "", "", "", "", ""]],
                       [[code(31), "周一", person_id(31), "", "", None]])
    sent = office.post("/enterprises/import", files={"file": ("页面.xlsx", content, "application/octet-stream")},
                       follow_redirects=False)
    assert sent.status_code == 303
    url = sent.headers["location"]
    shown = _until_settled(office, url)
    assert "没有发现问题" in shown and "确认导入" in shown
    assert count(db, Enterprise) == 4
    confirmed = office.post(url + "/commit", follow_redirects=False)
    assert confirmed.status_code == 303
    shown = _until_settled(office, url)
    assert "已导入" in shown
    assert count(db, Enterprise) == 5
    # The upload's bytes (personal data) are not kept once written; a second confirmation does nothing.
    with db.reads() as session:
        job = session.scalars(select(RosterImport)).one()
        assert job.content is None and job.status == "done"
    office.post(url + "/commit")
    assert count(db, Enterprise) == 5
    # Someone else's upload is not theirs to see.
    assert clients("subcenter_sh").get(url).status_code == 404


def _until_settled(client: Any, url: str) -> str:
    for _ in range(100):
        text = client.get(url).text
        if 'id="import-progress"' not in text:
            return text
        time.sleep(0.1)
    raise AssertionError("the import did not finish")


def test_at_a_spoke_each_imported_row_waits_in_the_outbox_for_the_hub(db: Database, db_kind: str,
                                                                        world: dict[str, Any]) -> None:
    """A sub-center imports at its own node: the rows go out with the next sync like rows typed into a form."""
    from common.models import SyncOutbox
    from common.roster import imports
    from sync import capture

    spoke = Database.connect(str(db.engine.url.render_as_string(hide_password=False)))
    capture.install(spoke, "sc-shanghai", outbox=True)
    sub = world["principals"]["subcenter_sh"]
    with spoke.reads() as session:
        held = session.get(Person, world["people"]["sh"])
        held_code = session.get(Enterprise, world["enterprises"]["sh"]).credit_code
        number = held.id_number
    content = workbook([["启东分中心导入有限公司", code(41), "310115", "", "", "", "", ""]],
                       [[code(41), "吴一", person_id(41), "", "", None],
                        [held_code, held.name, number, "", "副经理", None]])
    answer = imports.run(spoke, sub, content, "分中心.xlsx", dry_run=False)
    assert answer["written"], answer
    with spoke.reads() as session:
        waiting = session.scalars(select(SyncOutbox).where(SyncOutbox.entity != "audit_entry")).all()
        made = sorted((w.entity, w.fields is None) for w in waiting)
        assert made == [("enterprise", True), ("person", False), ("person", True)]
        # The import's one audit entry goes to the hub too.
        assert session.scalar(select(func.count()).select_from(SyncOutbox).where(SyncOutbox.entity == "audit_entry")) == 1
        changed = next(w for w in waiting if w.fields is not None)
        assert changed.row_id == str(world["people"]["sh"]) and changed.fields == ["position"]
        assert all(w.actor_id == sub.user_id for w in waiting)
        assert session.get(Person, world["people"]["sh"]).field_versions["position"][1] == "sc-shanghai"
    spoke.dispose()
