"""CSRF protects every cookie session (only a working bearer token goes without it, and a token is good for its own
session only); a role that sees ID numbers masked cannot learn them by searching, and searching people is throttled."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from common.db import Database
from common.models import AuditEntry, Enterprise, Person
from common.identity.throttle import RULES, SEARCH
from common.validation import make_credit_code

APP_PER_CLIENT = True  # a test moves one client's clock (its app's)


@pytest.fixture
def db_kind() -> str:
    """Tokens, searches and their throttle do not depend on the database: SQLite alone."""
    return "sqlite"


def _count(db: Database, model: Any) -> int:
    with db.reads() as session:
        return session.scalar(select(func.count()).select_from(model))


def _body(n: int) -> dict[str, Any]:
    return {"name": f"跨站请求{n}", "credit_code": make_credit_code("9", "1", "320681", f"{88880000 + n:08d}"),
            "region_code": "320681"}


@pytest.mark.parametrize("authorization", ["Basic eDp4", "Negotiate YIIFzgYGKwYBBQUC", "Bearer"])
def test_an_authorization_header_that_authenticates_nothing_does_not_skip_csrf(
        clients: Any, db: Database, authorization: str) -> None:
    office = clients("office")
    office.http.headers.pop("X-CSRF-Token")
    before = _count(db, Enterprise)
    refused = office.post("/api/v1/enterprises", json=_body(1), headers={"Authorization": authorization})
    assert refused.status_code in (401, 403), refused.text
    assert _count(db, Enterprise) == before


def test_a_csrf_token_is_good_for_its_own_session_only(clients: Any, db: Database, settings: Any) -> None:
    attacker, victim = clients("workstation_1"), clients("office")
    csrf_cookie = f"lianfu_{settings.node_id}_csrf"
    # The attacker plants their own CSRF cookie in the victim's browser and sends the token that goes with it.
    planted = attacker.http.cookies.get(csrf_cookie)
    victim.http.cookies.set(csrf_cookie, planted, domain="testserver.local")
    before = _count(db, Enterprise)
    refused = victim.post("/api/v1/enterprises", json=_body(2), headers={"X-CSRF-Token": attacker.csrf})
    assert refused.status_code == 403
    assert _count(db, Enterprise) == before
    # The victim's own page, rendered for that cookie and their session, carries a token that works.
    fresh = victim.get("/").text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    assert victim.post("/api/v1/enterprises", json=_body(3), headers={"X-CSRF-Token": fresh}).status_code == 201


def test_a_masked_id_number_cannot_be_found_by_searching(clients: Any, db: Database, world: dict[str, Any]) -> None:
    with db.reads() as session:
        number = session.get(Person, world["people"]["ws"]).id_number
    workstation = clients("workstation_1")
    # The enterprise role sees the number masked, so a full number (or a guess at one) finds nothing …
    assert workstation.get("/api/v1/people", params={"q": number}).json()["items"] == []
    assert workstation.get("/api/v1/people", params={"q": number[:10]}).json()["items"] == []
    # … while the person is found by name, their number masked.
    found = workstation.get("/api/v1/people", params={"q": "张ws"}).json()["items"]
    assert [p["id"] for p in found] == [str(world["people"]["ws"])] and found[0]["id_number"] != number
    # The office sees numbers, and may search by one.
    assert [p["id"] for p in clients("office").get("/api/v1/people", params={"q": number}).json()["items"]] == [
        str(world["people"]["ws"])]


def test_a_burst_of_people_searches_is_refused_and_recorded(clients: Any, db: Database) -> None:
    workstation = clients("workstation_1")
    limit = RULES[SEARCH].limit
    answers = [workstation.get("/api/v1/people", params={"q": f"320681198001{n:02d}"}).status_code
               for n in range(limit + 3)]
    assert answers[:limit] == [200] * limit and answers[limit:] == [429] * 3
    refused = workstation.get("/api/v1/people", params={"q": "张"})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert "查询人员次数过多" in refused.json()["detail"]
    # Listing without a search, and another account's searches, go on.
    assert workstation.get("/api/v1/people").status_code == 200
    assert clients("office").get("/api/v1/people", params={"q": "张"}).status_code == 200
    with db.reads() as session:
        bursts = session.scalars(select(AuditEntry).where(AuditEntry.action == "security.search_burst")).all()
    assert [b.actor for b in bursts] == ["workstation_1"]


def test_the_search_throttle_lifts_after_its_lock(clients: Any, db: Database) -> None:
    workstation = clients("workstation_1")
    app = workstation.http.app
    start = app.state.clock()
    for n in range(RULES[SEARCH].limit + 1):
        workstation.get("/api/v1/people", params={"q": f"x{n}"})
    assert workstation.get("/api/v1/people", params={"q": "张"}).status_code == 429
    app.state.clock = lambda: start + RULES[SEARCH].first_lock + timedelta(minutes=2)
    assert workstation.get("/api/v1/people", params={"q": "张"}).status_code == 200
