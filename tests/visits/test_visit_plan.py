"""The visit plan's own table (`last_visit`, revision 0026) follows the roster and the visits whatever writes them —
the pages, sync's bulk writes, a removal for good — and the plan read from it is the plan worked out from both."""
from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select, update

from common.db import Database
from common.models import Enterprise, LastVisit, Visit, new_id, utcnow
from common.validation import make_credit_code
from common.visits import plan
from sync.bulk import insert_rows, update_rows


def expected(db: Database) -> dict[str, tuple[str, str, str, Any]]:
    """Each live enterprise's node, risk level, name and last live visit, worked out from the two tables."""
    with db.reads() as session:
        last = dict(session.execute(select(Visit.enterprise_id, func.max(Visit.visited_at))
                                    .where(Visit.deleted_at.is_(None)).group_by(Visit.enterprise_id)).all())
        return {str(e.id): (e.node_id, e.risk_level, e.name, last.get(e.id))
                for e in session.execute(select(Enterprise.id, Enterprise.node_id, Enterprise.risk_level, Enterprise.name)
                                         .where(Enterprise.deleted_at.is_(None)))}


def kept(db: Database) -> dict[str, tuple[str, str, str, Any]]:
    with db.reads() as session:
        return {str(r.enterprise_id): (r.node_id, r.risk_level, r.name, r.visited_at)
                for r in session.scalars(select(LastVisit))}


def test_the_plans_table_follows_every_write_of_the_roster_and_the_visits(clients: Any, db: Database,
                                                                            world: dict[str, Any]) -> None:
    office = clients("office")
    assert kept(db) == expected(db) and kept(db)
    made = office.post("/api/v1/enterprises", json={
        "name": "启东联丰建筑劳务有限公司", "credit_code": make_credit_code("9", "1", "310115", "C4D5E6F7"),
        "region_code": "310115", "industry": "construction", "node": "sc-shanghai", "risk_level": "high"})
    assert made.status_code == 201, made.text
    eid = made.json()["id"]
    assert kept(db)[eid] == ("sc-shanghai", "high", "启东联丰建筑劳务有限公司", None)

    def visit(days_ago: int) -> str:
        response = office.post("/api/v1/visits", json={"enterprise_id": eid, "kind": "safety",
                                                       "visited_at": (utcnow() - timedelta(days=days_ago)).isoformat()})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    older, newer = visit(40), visit(10)
    visit(20)  # not the last
    assert kept(db) == expected(db) and kept(db)[eid][3] is not None
    assert office.delete(f"/api/v1/visits/{newer}").status_code == 204  # the last goes: the one before is the last
    assert kept(db) == expected(db)
    assert office.patch(f"/api/v1/visits/{older}", json={"visited_at": (utcnow() - timedelta(days=2)).isoformat()}).is_success
    assert kept(db) == expected(db)
    for change in ({"risk_level": "low"}, {"name": "启东联丰建设有限公司"}, {"node": "sc-suzhou"}, {"notes": "整改中"}):
        assert office.patch(f"/api/v1/enterprises/{eid}", json=change).is_success, change
        assert kept(db) == expected(db), change
    assert kept(db)[eid][:3] == ("sc-suzhou", "low", "启东联丰建设有限公司")

    # Sync's bulk writes (COPY and one UPDATE from arrays at PostgreSQL), and rows removed for good.
    now = utcnow()
    rows = [{"id": new_id(), "node_id": "sc-suzhou", "enterprise_id": uuid.UUID(eid), "visited_at": now - timedelta(hours=h),
             "kind": "safety", "checklist": {}, "hazards": [], "created_at": now, "updated_at": now, "version": 1,
             "deleted_at": None} for h in (1, 5)]
    with db.transaction() as session:
        insert_rows(session, Visit.__table__, rows)
    assert kept(db) == expected(db)
    with db.transaction() as session:
        update_rows(session, Visit.__table__, [{"id": rows[0]["id"], "visited_at": now - timedelta(days=300),
                                                "deleted_at": None}], ["visited_at", "deleted_at"])
    assert kept(db) == expected(db)
    with db.transaction() as session:
        session.execute(delete(Visit).where(Visit.id == rows[1]["id"]))
    assert kept(db) == expected(db)
    assert office.delete(f"/api/v1/enterprises/{eid}").status_code == 204
    assert eid not in kept(db) and kept(db) == expected(db)
    with db.transaction() as session:  # put back (a sync merge that undoes a removal)
        session.execute(update(Enterprise).where(Enterprise.id == uuid.UUID(eid)).values(deleted_at=None))
    assert eid in kept(db) and kept(db) == expected(db)


def test_the_plan_is_the_plan_worked_out_from_the_roster_and_the_visits(clients: Any, db: Database,
                                                                         world: dict[str, Any]) -> None:
    office, principals = clients("office"), world["principals"]
    now = utcnow()
    serial = 70
    for name, risk, days_ago in (("高风险从未巡访甲", "high", None), ("高风险从未巡访乙", "high", None),
                                 ("高风险逾期", "high", 45), ("高风险近访", "high", 5), ("中风险逾期", "medium", 100),
                                 ("低风险从未巡访", "low", None), ("低风险逾期", "low", 200), ("低风险近访", "low", 100),
                                 ("未知风险逾期", "low", 190), ("未知风险近访", "low", 10)):
        serial += 1
        made = office.post("/api/v1/enterprises", json={
            "name": name, "credit_code": make_credit_code("9", "1", "310115", f"{serial:08d}"), "region_code": "310115",
            "industry": "construction", "node": "sc-shanghai", "risk_level": risk})
        assert made.status_code == 201, made.text
        if days_ago is not None:
            assert office.post("/api/v1/visits", json={"enterprise_id": made.json()["id"], "kind": "safety",
                                                       "visited_at": (now - timedelta(days=days_ago)).isoformat()}).is_success

    # A level the plan does not know (a row that came in with one): due on the longest cadence, after all the others.
    with db.transaction() as session:
        session.execute(update(Enterprise).where(Enterprise.name.like("未知风险%")).values(risk_level="extreme"))

    def worked_out(p: Any) -> list[str]:
        cadence = {"high": 30, "medium": 90, "low": 180}
        with db.reads() as session:
            last = dict(session.execute(select(Visit.enterprise_id, func.max(Visit.visited_at))
                                        .where(Visit.deleted_at.is_(None)).group_by(Visit.enterprise_id)).all())
            enterprises = session.scalars(select(Enterprise).where(Enterprise.deleted_at.is_(None))).all()
        due = []
        for e in enterprises:
            if p.role == "subcenter" and e.node_id not in p.subtree:
                continue
            seen = last.get(e.id)
            if seen is None or seen < now - timedelta(days=cadence.get(e.risk_level, 180)):
                due.append((plan.RISK_ORDER.get(e.risk_level, 3), seen is not None, seen or now, e.name))
        return [name for *_, name in sorted(due)]

    for username in ("office", "subcenter_sh", "subcenter_sz"):
        p = principals[username]
        with db.reads() as session:
            due, total = plan.overdue(session, p, limit=100, now=now)
            first, _ = plan.overdue(session, p, limit=3, now=now)
        assert [d.enterprise.name for d in due] == worked_out(p) and total == len(due), username
        assert [d.enterprise.name for d in first] == worked_out(p)[:3]
    names = [d.enterprise.name for d in due]  # (the Suzhou sub-center's: none of the new ones)
    assert not {"高风险逾期", "低风险从未巡访"} & set(names)
    with db.reads() as session:
        due, _ = plan.overdue(session, principals["office"], limit=100, now=now)
    by_name = {d.enterprise.name: d for d in due}
    assert by_name["高风险逾期"].overdue_days == 15 and by_name["高风险从未巡访甲"].last_visit is None
    assert "高风险近访" not in by_name and "低风险近访" not in by_name and "未知风险近访" not in by_name
    assert [d.enterprise.name for d in due][-1] == "未知风险逾期"
    # A liaison sees no visits: the enterprises of its cases are all never visited, by name within their level.
    with db.reads() as session:
        due, total = plan.overdue(session, principals["liaison_xz"], limit=100, now=now)
    assert due and total == len(due) and all(d.last_visit is None for d in due)
    assert [d.enterprise.name for d in due] == [e.name for e in sorted(
        (d.enterprise for d in due), key=lambda e: (plan.RISK_ORDER.get(e.risk_level, 3), e.name))]
