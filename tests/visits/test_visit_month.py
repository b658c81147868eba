"""The counts of visits per node and month (`visit_month`, revision 0029) follow every write of the visits — the
pages, a move of an enterprise's file, sync's bulk writes, a removal for good — and the statistics read them."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select

from common.db import Database
from common.models import Visit, VisitMonth, new_id, utcnow
from common.validation import make_credit_code
from sync.bulk import insert_rows, update_rows

BEIJING = ZoneInfo("Asia/Shanghai")


def expected(db: Database) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    with db.reads() as session:
        for node_id, visited_at in session.execute(select(Visit.node_id, Visit.visited_at).where(Visit.deleted_at.is_(None))):
            key = (node_id, visited_at.astimezone(BEIJING).strftime("%Y-%m"))
            counts[key] = counts.get(key, 0) + 1
    return counts


def kept(db: Database) -> dict[tuple[str, str], int]:
    with db.reads() as session:
        return {(r.node_id, r.month): r.visits for r in session.scalars(select(VisitMonth)) if r.visits}


def test_the_counts_per_node_and_month_follow_every_write_of_the_visits(clients: Any, db: Database,
                                                                          world: dict[str, Any]) -> None:
    office = clients("office")
    assert kept(db) == expected(db) and kept(db)
    made = office.post("/api/v1/enterprises", json={
        "name": "启东联丰建筑劳务有限公司", "credit_code": make_credit_code("9", "1", "310115", "C4D5E6F8"),
        "region_code": "310115", "industry": "construction", "node": "sc-shanghai"})
    assert made.status_code == 201, made.text
    eid = made.json()["id"]

    def visit(at: datetime) -> str:
        response = office.post("/api/v1/visits", json={"enterprise_id": eid, "kind": "safety", "visited_at": at.isoformat()})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    # 17:00 UTC on 31 October is 1 November in Beijing: counted in November.
    first, second = visit(datetime(2026, 10, 31, 17, tzinfo=UTC)), visit(datetime(2026, 10, 31, 15, tzinfo=UTC))
    assert kept(db) == expected(db) and kept(db)[("sc-shanghai", "2026-11")] >= 1
    for moved in ("2026-09-15T10:00:00+08:00", "2026-11-02T10:00:00+08:00", "2026-09-15T10:00:00+08:00"):
        assert office.patch(f"/api/v1/visits/{second}", json={"visited_at": moved}).is_success  # to a month with visits and back
        assert kept(db) == expected(db), moved
    assert office.delete(f"/api/v1/visits/{first}").status_code == 204
    assert kept(db) == expected(db)
    assert office.patch(f"/api/v1/enterprises/{eid}", json={"node": "sc-suzhou"}).is_success  # its visits go along
    assert kept(db) == expected(db) and kept(db).get(("sc-suzhou", "2026-09"))

    now = utcnow()
    rows = [{"id": new_id(), "node_id": "sc-suzhou", "enterprise_id": uuid.UUID(eid), "visited_at": now - timedelta(days=d),
             "kind": "safety", "checklist": {}, "hazards": [], "created_at": now, "updated_at": now, "version": 1,
             "deleted_at": None} for d in (1, 40, 80)]
    with db.transaction() as session:
        insert_rows(session, Visit.__table__, rows)
    assert kept(db) == expected(db)
    with db.transaction() as session:
        update_rows(session, Visit.__table__, [{"id": rows[0]["id"], "visited_at": now - timedelta(days=200), "deleted_at": None},
                                               {"id": rows[1]["id"], "visited_at": rows[1]["visited_at"], "deleted_at": now}],
                    ["visited_at", "deleted_at"])
    assert kept(db) == expected(db)
    with db.transaction() as session:
        session.execute(delete(Visit).where(Visit.id.in_([rows[1]["id"], rows[2]["id"]])))
    assert kept(db) == expected(db)


def test_the_statistics_count_the_visits_of_the_year_by_sub_center(clients: Any, db: Database,
                                                                   world: dict[str, Any]) -> None:
    from common.dashboard.stats import month_window, visits_by_subcenter

    now = datetime(2026, 11, 20, tzinfo=UTC)
    months, start, end = month_window(now)
    with db.reads() as session:
        table = visits_by_subcenter(session, world["principals"]["office"], db.dialect, now, "zh")
        visits = session.execute(select(Visit.node_id, Visit.visited_at).where(
            Visit.deleted_at.is_(None), Visit.visited_at >= start, Visit.visited_at < end)).all()
    shown = {(s.key, month): n for s in table.series for month, n in zip(table.months, s.values) if n}
    counted: dict[tuple[str, str], int] = {}
    for node_id, visited_at in visits:
        key = ("sc-shanghai" if node_id == "ws-demo-1" else node_id, visited_at.astimezone(BEIJING).strftime("%Y-%m"))
        counted[key] = counted.get(key, 0) + 1
    assert shown == counted and shown
