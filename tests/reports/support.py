"""Rows the report tests share: risk reports of a month, cases handled at given moments."""
from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from common.cases import service as cases
from common.db import Database
from common.models import Case, InfoReport

HAS_STATUS = hasattr(InfoReport, "status")


def add_risk_reports(db: Database, world: dict[str, Any], at: datetime, rows: list[tuple[str, str, str, str]]) -> None:
    """(enterprise key, category, risk level, status) per report, made at `at`. Without a status column every
    report counts as adopted."""
    with db.transaction() as session:
        for key, category, level, status in rows:
            extra: dict[str, Any] = {"status": status} if HAS_STATUS else {}
            session.add(InfoReport(title=f"{key} 风险", category=category, risk_level=level, node_id="hub",
                                   enterprise_id=world["enterprises"][key], created_at=at, updated_at=at, **extra))


def new_case(db: Database, world: dict[str, Any], at: datetime, key: str = "sh") -> UUID:
    with db.transaction() as session:
        case = cases.create_case(session, world["principals"]["office"], {
            "enterprise_id": str(world["enterprises"][key]), "channel": "hotline", "category": "economic_dispute",
            "urgency": "routine", "title": "工资纠纷"})
        session.flush()
        session.execute(Case.__table__.update().where(Case.id == case.id).values(created_at=at))
        return case.id


def event(db: Database, world: dict[str, Any], who: str, case_id: UUID, at: datetime, **data: Any) -> None:
    with db.transaction() as session:
        case = session.get(Case, case_id)
        assert case is not None
        cases.record_event(session, world["principals"][who], case, data, at=at)
