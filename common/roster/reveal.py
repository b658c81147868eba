"""Seeing personal data in full: a person's ID number and phone, an enterprise contact's phone, a hotline caller's
phone.

Every list, page, export and API answer masks them to every role. The police roles (office, liaison) may ask to see
one record in full, giving a reason; each such look is recorded in the audit trail with its reason, and an account
that asks too often in an hour is stopped for a while and the burst recorded as a security event.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from common import policy
from common.audit import trail as audit
from common.db import Database
from common.errors import Forbidden
from common.i18n import N_
from common.identity import throttle
from common.models import Case, Enterprise, NodeApplication, Person
from common.policy import Principal
from common.service import Problems, audit_write, required_text

REASON_MAX = 200


@dataclass
class RevealLimited(Exception):
    """Too many looks in full by one account: refused until `retry_after` seconds from now."""

    retry_after: int


def check_request(p: Principal, data: dict[str, Any]) -> str:
    """The reason given, once the caller's role may ask at all (refused before anything is counted)."""
    if not policy.may_reveal(p):
        raise Forbidden(N_("Only the center office and liaison officers may see personal data in full."))
    problems = Problems()
    reason = required_text(problems, data, "reason", REASON_MAX)
    problems.raise_if_any()
    assert reason is not None
    return reason


def count_look(db: Database, p: Principal, now: datetime, node_id: str) -> None:
    """Count one look in full for the account, in its own transaction (a refused look still counts); past the limit,
    refuse it, recording the burst once."""
    with db.transaction(actor=p) as session:
        lock, started = throttle.count_use(session, throttle.REVEAL, str(p.user_id or p.username), now)
        if started:
            audit.record(session, node_id, "security.reveal_burst", actor=p.username, actor_id=p.user_id,
                         entity_type="person", address=p.address,
                         detail={"limit": throttle.RULES[throttle.REVEAL].limit, "until": lock.until.isoformat()})
    if lock is not None:
        raise RevealLimited(lock.retry_after(now))


def reveal_person(session: Session, p: Principal, person_id: uuid.UUID, reason: str) -> dict[str, Any]:
    """A person's ID number and phone in full, recorded as `person.revealed` with the reason."""
    person = policy.get_visible(session, Person, person_id, p)
    audit_write(session, p, "person.revealed", "person", person.id,
                {"reason": reason, "fields": ["id_number", "phone"], "enterprise_id": str(person.enterprise_id)})
    return {"id": str(person.id), "name": person.name, "id_number": person.id_number, "phone": person.phone}


def reveal_contact(session: Session, p: Principal, enterprise_id: uuid.UUID, reason: str) -> dict[str, Any]:
    """An enterprise contact's phone in full, recorded as `enterprise.revealed` with the reason."""
    enterprise = policy.get_visible(session, Enterprise, enterprise_id, p)
    audit_write(session, p, "enterprise.revealed", "enterprise", enterprise.id,
                {"reason": reason, "fields": ["contact_phone"]})
    return {"id": str(enterprise.id), "name": enterprise.contact_name, "contact_phone": enterprise.contact_phone}


def reveal_caller(session: Session, p: Principal, case_id: uuid.UUID, reason: str) -> dict[str, Any]:
    """A hotline caller's phone in full (to call them back), recorded as `case.revealed` with the reason."""
    case = policy.get_visible(session, Case, case_id, p)
    details = case.details or {}
    audit_write(session, p, "case.revealed", "case", case.id, {"reason": reason, "fields": ["caller_phone"]})
    return {"id": str(case.id), "name": str(details.get("caller_name") or ""),
            "caller_phone": str(details.get("caller_phone") or "")}


def reveal_head(session: Session, p: Principal, application_id: uuid.UUID, reason: str) -> dict[str, Any]:
    """A proposed head's phone in full (to check with them), recorded as `application.revealed` with the reason."""
    application = policy.get_visible(session, NodeApplication, application_id, p)
    audit_write(session, p, "application.revealed", "application", application.id,
                {"reason": reason, "fields": ["head_phone"]})
    return {"id": str(application.id), "name": application.head_name, "head_phone": application.head_phone}
