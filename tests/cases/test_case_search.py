"""A case found by any part of its number, any case, and by its description: the queue page and the API alike."""
from __future__ import annotations

import re
from typing import Any

from sqlalchemy import update

from common.db import Database
from common.models import Case

HTML = {"Accept": "text/html", "HX-Request": "true"}
NUMBER = "SC-SHANGHAI-2026-00001"


def _api(client: Any, term: str) -> list[str]:
    response = client.get("/api/v1/cases", params={"q": term, "limit": 200})
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def _page(client: Any, term: str) -> list[str]:
    response = client.get("/cases", params={"q": term, "status": ""}, headers=HTML)
    assert response.status_code == 200, response.text
    return re.findall(r'data-case="([0-9a-f-]{36})"', response.text)


def test_a_case_is_found_by_any_part_of_its_number(clients: Any, world: dict[str, Any], db: Database) -> None:
    case_id = str(world["cases"]["sh"])
    other = str(world["cases"]["sz"])
    with db.transaction() as session:  # the number a case recorded at the Shanghai sub-center's spoke carries
        session.execute(update(Case).where(Case.id == world["cases"]["sh"]).values(number=NUMBER))
        session.execute(update(Case).where(Case.id == world["cases"]["sz"]).values(number="SC-SUZHOU-2026-00002"))
    office = clients("office")
    for term in ("00001", "SC-SHANGHAI", "sc-shanghai", "2026-00001", NUMBER, NUMBER.lower(), " shanghai-2026 "):
        assert case_id in _api(office, term), term
        assert case_id in _page(office, term), term
        assert other not in _api(office, term) and other not in _page(office, term), term
    assert set(_api(office, "2026-0000")) >= {case_id, other}
    assert _api(office, "00009") == [] and _page(office, "00009") == []
    # The search stays inside the caller's scope: Suzhou never finds Shanghai's case by its number.
    assert case_id not in _api(clients("subcenter_sz"), "00001")
    assert case_id in _api(clients("subcenter_sh"), "sc-shanghai")


def test_the_api_searches_the_description_as_the_page_does(clients: Any, world: dict[str, Any]) -> None:
    office = clients("office")
    made = office.post("/api/v1/cases", json={
        "enterprise_id": str(world["enterprises"]["hub"]), "channel": "hotline", "category": "economic_dispute",
        "title": "工程款纠纷", "description": "分包商拖欠农民工工资，涉及ABC项目部"})
    assert made.status_code in (200, 201), made.text
    case_id = made.json()["id"]
    for term in ("拖欠农民工", "abc项目", "ABC"):
        assert case_id in _api(office, term), term
        assert case_id in _page(office, term), term
    assert case_id not in _api(office, "无此描述") and case_id not in _page(office, "无此描述")
