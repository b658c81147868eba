"""The key-person register: police only on every path (pages, API list and get, search, a spoke), masked everywhere,
every read of a record audited, full numbers only through a look with a reason."""
from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from common.models import AuditEntry
from common.validation import make_id_number
from tests.cycle_support import fed, principal_of  # noqa: F401 - fixtures
from tests.sync_support import Federation

ID_NUMBER = make_id_number("320681", date(1975, 6, 1), 123)
PHONE = "13812345678"
OTHERS = ("subcenter_sh", "subcenter_sz", "workstation_1")


def _make(clients: Any, unit: str = "criminal-investigation") -> dict[str, Any]:
    made = clients("office").post("/api/v1/key-persons", json={
        "name": "王重点", "id_number": ID_NUMBER, "phone": PHONE, "control_level": "strict",
        "responsible_unit": unit, "notes": "多次组织讨薪"})
    assert made.status_code == 201, made.text
    return made.json()


def _audited(db: Any, action: str, row_id: str) -> int:
    with db.reads() as session:
        return len(session.scalars(select(AuditEntry).where(AuditEntry.action == action,
                                                            AuditEntry.entity_id == row_id)).all())


@pytest.mark.parametrize("username", OTHERS)
def test_other_roles_find_no_trace_of_the_register(username: str, clients: Any, world: dict[str, Any]) -> None:
    person = _make(clients)
    user = clients(username)
    pid = person["id"]
    for method, path, body in (
            ("GET", "/api/v1/key-persons", None), ("GET", "/api/v1/key-persons?q=王重点", None),
            ("POST", "/api/v1/key-persons", {"name": "x"}), ("GET", f"/api/v1/key-persons/{pid}", None),
            ("PATCH", f"/api/v1/key-persons/{pid}", {"notes": "x"}), ("DELETE", f"/api/v1/key-persons/{pid}", None),
            ("POST", f"/api/v1/key-persons/{pid}/follow-ups", {"text": "x"}),
            ("POST", f"/api/v1/key-persons/{pid}/reveal", {"reason": "x"}),
            ("GET", "/key-persons", None), ("GET", "/key-persons/new", None), ("GET", f"/key-persons/{pid}", None),
            ("GET", f"/key-persons/{pid}/reveal", None), ("GET", f"/key-persons/{pid}/edit", None)):
        response = user.request(method, path, json=body)
        assert response.status_code in (403, 404), (method, path, response.status_code)
        assert "王重点" not in response.text and ID_NUMBER[-4:] not in response.text
    assert "/key-persons" not in user.get("/").text
    for search in ("/api/v1/people?q=王重点", "/api/v1/enterprises?q=王重点", "/api/v1/cases?q=王重点"):
        assert "王重点" not in user.get(search).text
    assert _audited(clients("office").http.app.state.db, "key_person.viewed", pid) == 0


def test_the_police_see_it_masked_and_every_read_is_audited(clients: Any, db: Any) -> None:
    person = _make(clients)
    assert person["id_number"] != ID_NUMBER and person["id_number"].endswith(ID_NUMBER[-4:]) and "*" in person["phone"]
    office, xz, jz = clients("office"), clients("liaison_xz"), clients("liaison_jz")
    listed = xz.get("/api/v1/key-persons").json()["items"]
    assert [p["id"] for p in listed] == [person["id"]]
    assert ID_NUMBER not in xz.get("/key-persons").text and PHONE not in xz.get("/key-persons").text
    assert jz.get("/api/v1/key-persons").json()["items"] == []  # another unit's record
    assert jz.get(f"/api/v1/key-persons/{person['id']}").status_code == 404

    got = xz.get(f"/api/v1/key-persons/{person['id']}")
    assert got.status_code == 200 and got.json()["id_number"] == person["id_number"]
    page = office.get(f"/key-persons/{person['id']}")
    assert page.status_code == 200 and ID_NUMBER not in page.text and PHONE not in page.text and "严格管控" in page.text
    assert _audited(db, "key_person.viewed", person["id"]) == 2

    followed = xz.post(f"/api/v1/key-persons/{person['id']}/follow-ups", json={"text": "电话回访，情绪稳定", "day": "2026-12-01"})
    assert followed.status_code == 201
    assert "电话回访" in xz.get(f"/key-persons/{person['id']}").text
    changed = office.patch(f"/api/v1/key-persons/{person['id']}", json={"control_level": "focus", "phone": "13900001111"})
    assert changed.status_code == 200 and changed.json()["control_level"] == "focus"
    with db.reads() as session:
        update = session.scalars(select(AuditEntry).where(AuditEntry.action == "update",
                                                          AuditEntry.entity_id == person["id"])).one()
    assert "13900001111" not in str(update.detail)

    edit = office.get(f"/key-persons/{person['id']}/edit")
    assert edit.status_code == 200 and ID_NUMBER not in edit.text and "13900001111" not in edit.text
    kept = office.post(f"/key-persons/{person['id']}/edit", data={"name": "王重点", "id_number": "", "phone": "",
                                                                 "control_level": "strict", "notes": "已稳控",
                                                                 "responsible_unit": "criminal-investigation",
                                                                 "enterprise_id": ""}, follow_redirects=False)
    assert kept.status_code in (302, 303), kept.text
    assert office.post(f"/api/v1/key-persons/{person['id']}/reveal", json={"reason": "核对"}).json()["phone"] == "13900001111"
    no_reason = office.post(f"/api/v1/key-persons/{person['id']}/reveal", json={"reason": ""})
    assert no_reason.status_code == 422
    shown = office.post(f"/api/v1/key-persons/{person['id']}/reveal", json={"reason": "核实身份"})
    assert shown.status_code == 200 and shown.json()["id_number"] == ID_NUMBER
    assert _audited(db, "key_person.revealed", person["id"]) == 2
    form = office.post(f"/key-persons/{person['id']}/reveal", data={"reason": "上门走访前核实"})
    assert form.status_code == 200 and ID_NUMBER in form.text


def test_a_liaison_keeps_records_of_their_own_unit(clients: Any) -> None:
    xz = clients("liaison_xz")
    made = xz.post("/api/v1/key-persons", json={"name": "李关注", "responsible_unit": "economic-crime"})
    assert made.status_code == 201 and made.json()["responsible_unit"] == "criminal-investigation"
    assert xz.get("/key-persons/new").status_code == 200
    bad = xz.post("/api/v1/key-persons", json={"name": "李关注", "id_number": "123"})
    assert bad.status_code == 422


def test_a_spoke_holds_and_serves_nothing_of_it(fed: Federation, world: dict[str, Any], principal_of: Any) -> None:
    from common.keypersons import service as keypersons
    from common.keypersons.models import KeyPerson
    from sync.entities import BY_MODEL

    office = principal_of(fed.hub_db, "office")
    with fed.hub_db.transaction(actor=office) as session:
        keypersons.create(session, office, {"name": "赵管控", "control_level": "general"})
    assert KeyPerson not in BY_MODEL
    sh = fed.enroll("sc-shanghai")
    assert sh.sync().ok
    with sh.db.reads() as session:
        assert session.scalars(select(KeyPerson)).all() == []
    from litestar.testing import TestClient
    from spoke.app import create_app

    with TestClient(create_app(sh.settings), base_url="https://sc-shanghai.test") as spoke:
        for path in ("/key-persons", "/api/v1/key-persons"):
            assert spoke.get(path, follow_redirects=False).status_code in (401, 302, 303, 403)
