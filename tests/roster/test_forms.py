"""The roster kept in the pages: enterprises added and edited, people added, edited and marked as having left, and
personal data masked to every role with a recorded look in full — by the same service and rules as the API."""
from __future__ import annotations

import re
from datetime import date
from typing import Any
from uuid import UUID

from sqlalchemy import func, select

from common.db import Database
from common.models import AuditEntry, Enterprise, Person
from common.validation import make_credit_code, make_id_number

HTML = {"Accept": "text/html"}
ENTERPRISE_URL = re.compile(r"^/enterprises/([0-9a-f-]{36})$")


def count(db: Database, model: Any, *where: Any) -> int:
    with db.reads() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def post(client: Any, url: str, data: dict[str, Any]) -> Any:
    return client.post(url, data={**data, "csrf_token": client.csrf}, headers=HTML, follow_redirects=False)


def new_enterprise(**fields: Any) -> dict[str, Any]:
    return {"name": "启东表单测试建设有限公司", "credit_code": make_credit_code("9", "1", "310115", "77000001"),
            "region_code": "310115", "address": "浦东新区测试路8号", "industry": "construction",
            "contact_name": "周经理", "contact_phone": "13712345678", **fields}


def test_the_office_adds_an_enterprise_in_the_form_and_a_refused_one_writes_nothing(clients: Any, db: Database) -> None:
    office = clients("office")
    page = office.get("/enterprises/new", headers=HTML)
    assert page.status_code == 200
    for name in ("name", "credit_code", "region_code", "industry", "node", "risk_level", "is_key", "contact_phone"):
        assert f'name="{name}"' in page.text, name
    assert "统一社会信用代码" in page.text and "添加企业" in page.text

    before = count(db, Enterprise)
    bad = post(office, "/enterprises/new", new_enterprise(credit_code="91310115MA1K00000A", region_code="999999"))
    assert bad.status_code == 422
    assert bad.text.count('class="field-error"') >= 2 and "未保存" in bad.text
    assert 'value="启东表单测试建设有限公司"' in bad.text  # what was typed comes back
    assert count(db, Enterprise) == before

    made = post(office, "/enterprises/new", new_enterprise(node="sc-shanghai", risk_level="high", is_key="1"))
    assert made.status_code == 303, made.text
    match = ENTERPRISE_URL.match(made.headers["location"])
    assert match
    with db.reads() as session:
        row = session.get(Enterprise, UUID(match.group(1)))
        assert row is not None
        assert (row.node_id, row.risk_level, row.is_key, row.contact_phone) == ("sc-shanghai", "high", True, "13712345678")
    page = office.get(made.headers["location"], headers=HTML)
    assert "启东表单测试建设有限公司" in page.text and "137****5678" in page.text and "13712345678" not in page.text

    again = post(office, "/enterprises/new", new_enterprise())  # the same credit code a second time
    assert again.status_code == 422 and "已在名录中" in again.text
    assert count(db, Enterprise) == before + 1


def test_a_sub_center_adds_in_its_subtree_and_a_workstation_edits_its_own_without_police_fields(
        clients: Any, db: Database, world: dict[str, Any]) -> None:
    sub = clients("subcenter_sh")
    page = sub.get("/enterprises/new", headers=HTML)
    assert page.status_code == 200
    assert 'value="sc-shanghai"' in page.text and 'value="sc-suzhou"' not in page.text
    assert 'name="risk_level"' not in page.text and 'name="is_key"' not in page.text
    outside = post(sub, "/enterprises/new", new_enterprise(node="sc-suzhou"))
    assert outside.status_code == 403
    made = post(sub, "/enterprises/new", new_enterprise(node="ws-demo-1"))
    assert made.status_code == 303, made.text

    ws = clients("workstation_1")
    assert ws.get("/enterprises/new", headers=HTML).status_code == 403
    own = world["enterprises"]["ws"]
    form = ws.get(f"/enterprises/{own}/edit", headers=HTML)
    assert form.status_code == 200
    assert 'name="risk_level"' not in form.text and 'name="is_key"' not in form.text and 'name="node"' not in form.text
    with db.reads() as session:
        before = session.get(Enterprise, own)
        assert before is not None
        risk, key = before.risk_level, before.is_key
    # Police fields sent by hand are not read from this role's form; the rest is saved.
    saved = post(ws, f"/enterprises/{own}/edit", {"name": before.name, "credit_code": before.credit_code,
                                                  "region_code": before.region_code, "industry": before.industry,
                                                  "address": "新址路9号", "risk_level": "high", "is_key": "1"})
    assert saved.status_code == 303, saved.text
    with db.reads() as session:
        after = session.get(Enterprise, own)
        assert after is not None and (after.address, after.risk_level, after.is_key) == ("新址路9号", risk, key)
    # Another tenant's enterprise: not found, as if it did not exist.
    assert ws.get(f"/enterprises/{world['enterprises']['sh']}/edit", headers=HTML).status_code == 404


def test_people_are_added_edited_and_marked_as_having_left(clients: Any, db: Database, world: dict[str, Any]) -> None:
    sub = clients("subcenter_sh")
    enterprise = world["enterprises"]["sh"]
    page = sub.get(f"/enterprises/{enterprise}", headers=HTML)
    assert f'href="/people/new?enterprise_id={enterprise}"' in page.text and "添加人员" in page.text
    form = sub.get(f"/people/new?enterprise_id={enterprise}", headers=HTML)
    assert form.status_code == 200 and 'name="id_number"' in form.text

    number = make_id_number("320681", date(1991, 3, 9), 123)
    bad = post(sub, "/people/new", {"enterprise_id": str(enterprise), "name": "钱七", "id_number": number[:-1] + "0"
                                    if number[-1] != "0" else number[:-1] + "1", "phone": "138"})
    assert bad.status_code == 422 and count(db, Person, Person.name == "钱七") == 0
    made = post(sub, "/people/new", {"enterprise_id": str(enterprise), "name": "钱七", "id_number": number,
                                     "phone": "13611112222", "position": "安全员"})
    assert made.status_code == 303 and made.headers["location"] == f"/enterprises/{enterprise}#people"
    with db.reads() as session:
        person = session.scalars(select(Person).where(Person.name == "钱七")).one()
        assert (person.id_number, person.phone, person.left_on) == (number, "13611112222", None)
    page = sub.get(f"/enterprises/{enterprise}", headers=HTML)
    assert number not in page.text and number[:6] + "*" * 8 + number[-4:] in page.text
    assert "136****2222" in page.text and f'href="/people/{person.id}/edit"' in page.text

    # Edited with the masked values left as shown: the stored numbers stay; then marked as having left.
    form = sub.get(f"/people/{person.id}/edit", headers=HTML)
    assert 'name="left"' in form.text and number not in form.text
    shown_id = number[:6] + "*" * 8 + number[-4:]
    saved = post(sub, f"/people/{person.id}/edit", {"name": "钱七", "id_number": shown_id, "phone": "136****2222",
                                                    "position": "安全主任", "left": "1", "left_on": "2026-11-30"})
    assert saved.status_code == 303, saved.text
    with db.reads() as session:
        again = session.get(Person, person.id)
        assert again is not None
        assert (again.id_number, again.phone, again.position, again.left_on) == \
            (number, "13611112222", "安全主任", date(2026, 11, 30))
    page = sub.get(f"/enterprises/{enterprise}", headers=HTML)
    assert "已离职人员（1）" in page.text and "2026-11-30 离职" in page.text
    assert sub.get(f"/api/v1/people/{person.id}").json()["left_on"] == "2026-11-30"

    future = post(sub, f"/people/{person.id}/edit", {"name": "钱七", "left": "1", "left_on": "2999-01-01"})
    assert future.status_code == 422 and "离职日期不能晚于今天" in future.text
    back = post(sub, f"/people/{person.id}/edit", {"name": "钱七", "left_on": "2026-11-30"})  # unticked: back at work
    assert back.status_code == 303
    with db.reads() as session:
        assert session.get(Person, person.id).left_on is None  # type: ignore[union-attr]

    # Through the API as well, with the same rule.
    assert sub.patch(f"/api/v1/people/{person.id}", json={"left_on": "not-a-day"}).status_code == 422
    assert sub.patch(f"/api/v1/people/{person.id}", json={"left_on": "2026-12-01"}).json()["left_on"] == "2026-12-01"


def test_a_look_in_full_needs_a_reason_is_recorded_and_is_limited_per_account(
        clients: Any, db: Database, world: dict[str, Any]) -> None:
    office, liaison, ws = clients("office"), clients("liaison_xz"), clients("workstation_1")
    person = world["people"]["sh"]
    with db.reads() as session:
        stored = session.get(Person, person)
        assert stored is not None
        number, phone = stored.id_number, stored.phone

    page = office.get(f"/enterprises/{world['enterprises']['sh']}", headers=HTML)
    assert number not in page.text and phone not in page.text
    assert f'href="/people/{person}/reveal"' in page.text and "查看完整信息" in page.text
    ws_page = ws.get(f"/enterprises/{world['enterprises']['ws']}", headers=HTML)
    assert "/reveal" not in ws_page.text

    form = office.get(f"/people/{person}/reveal", headers=HTML)
    assert form.status_code == 200 and 'name="reason"' in form.text and number not in form.text
    no_reason = post(office, f"/people/{person}/reveal", {"reason": "  "})
    assert no_reason.status_code == 422 and number not in no_reason.text
    assert count(db, AuditEntry, AuditEntry.action == "person.revealed") == 0

    shown = post(office, f"/people/{person}/reveal", {"reason": "核实来电人身份"})
    assert shown.status_code == 200 and number in shown.text and phone in shown.text
    assert shown.headers["cache-control"] == "no-store"
    with db.reads() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "person.revealed")).one()
        assert (entry.actor, entry.entity_id, entry.detail["reason"]) == ("office", str(person), "核实来电人身份")
        assert number not in str(entry.detail)

    assert ws.get(f"/people/{world['people']['ws']}/reveal", headers=HTML).status_code == 403
    refused = ws.post(f"/api/v1/people/{world['people']['ws']}/reveal", json={"reason": "想看"})
    assert refused.status_code == 403
    assert clients("subcenter_sh").post(f"/api/v1/people/{person}/reveal", json={"reason": "走访"}).status_code == 403
    # Out of the liaison's scope reads as missing; a contact's phone is looked at the same way.
    outside = liaison.post(f"/api/v1/people/{world['people']['sz']}/reveal", json={"reason": "核查"})
    assert outside.status_code == 404
    contact = office.post(f"/api/v1/enterprises/{world['enterprises']['sh']}/reveal", json={"reason": "联系企业"})
    assert contact.status_code == 200 and "contact_phone" in contact.json()
    assert count(db, AuditEntry, AuditEntry.action == "enterprise.revealed") == 1

    # Twenty looks an hour per account (the one refused as out of scope counted too); the next is refused, and the
    # burst recorded once.
    for n in range(17):
        assert liaison.post(f"/api/v1/people/{person}/reveal", json={"reason": f"核查 {n}"}).status_code == 200
    looks = [liaison.post(f"/api/v1/people/{person}/reveal", json={"reason": "再核查"}) for _ in range(3)]
    assert [r.status_code for r in looks] == [200, 200, 429], [r.text for r in looks]
    assert int(looks[-1].headers["retry-after"]) > 0 and number not in looks[-1].text
    assert count(db, AuditEntry, AuditEntry.action == "security.reveal_burst") == 1
    page = post(liaison, f"/people/{person}/reveal", {"reason": "再看一次"})
    assert page.status_code == 429 and number not in page.text and "次数过多" in page.text
    # Another account is not held up by it.
    assert office.post(f"/api/v1/people/{person}/reveal", json={"reason": "核查"}).status_code == 200
