"""Rows the deadline, extension and escalation tests share: a case of a given urgency dispatched to criminal
investigation, what the notices and the timeline hold."""
from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import select

from common.cases import service as cases
from common.db import Database
from common.models import Case, CaseEvent, CaseUnit, Delivery, Notification, User

UNIT = "criminal-investigation"


def dispatched_case(db: Database, world: dict[str, Any], urgency: str = "urgent", unit: str = UNIT,
                    category: str = "economic_dispute") -> UUID:
    """A new case of the Shanghai enterprise, accepted and dispatched to `unit` by the office."""
    office = world["principals"]["office"]
    with db.transaction() as session:
        case = cases.create_case(session, office, {"enterprise_id": str(world["enterprises"]["sh"]), "channel": "hotline",
                                                   "category": category, "urgency": urgency, "title": "项目部工资纠纷"})
        cases.add_case_event(session, office, case.id, {"kind": "accepted"})
        cases.add_case_event(session, office, case.id, {"kind": "dispatched", "unit": unit})
        return case.id


def add(db: Database, world: dict[str, Any], who: str, case_id: UUID, **data: Any) -> CaseEvent:
    with db.transaction() as session:
        return cases.add_case_event(session, world["principals"][who], case_id, data)


def events(db: Database, case_id: UUID, *kinds: str) -> list[CaseEvent]:
    with db.reads() as session:
        stmt = select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.at, CaseEvent.id)
        if kinds:
            stmt = stmt.where(CaseEvent.kind.in_(kinds))
        return list(session.scalars(stmt))


def case_unit(db: Database, case_id: UUID, unit: str = UNIT) -> CaseUnit:
    with db.reads() as session:
        row = session.get(CaseUnit, (case_id, unit))
        assert row is not None
        return row


def told(db: Database, kind: str, case_id: UUID | None = None) -> set[str]:
    """The usernames with a notice of `kind` (about the case, if given) in their inbox."""
    with db.reads() as session:
        stmt = select(User.username).join(Notification, Notification.user_id == User.id).where(Notification.kind == kind)
        if case_id is not None:
            stmt = stmt.where(Notification.entity_id == case_id)
        return set(session.scalars(stmt))


def deliveries(db: Database, kind: str) -> list[Delivery]:
    with db.reads() as session:
        return list(session.scalars(select(Delivery).where(Delivery.kind == kind)))


def number_of(db: Database, case_id: UUID) -> str:
    with db.reads() as session:
        case = session.get(Case, case_id)
        assert case is not None
        return case.number


def add_unit_leader(db: Database, unit: str = UNIT) -> None:
    with db.transaction() as session:
        session.add(User(username="xz_leader", role="liaison", node_id="hub", unit_id=unit, is_leader=True,
                         display_name="刑侦大队大队长", password_hash="x"))
