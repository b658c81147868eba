"""The key-person register (Art. 17(1)): kept by the police (the office and the units' liaison officers) at the hub.

Nobody else may know of it: every door answers other roles as if it did not exist. ID numbers and phones are masked
everywhere; seeing them in full is a look of its own, with a reason (common/roster/reveal.py). Every read of one record
is recorded (`key_person.viewed`), and every change."""
from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Select, or_, select, true
from sqlalchemy.orm import Session

from common import policy
from common import validation as v
from common.errors import NotFound
from common.i18n import N_
from common.keypersons.models import KeyPerson, KeyPersonFollowUp
from common.models import Unit
from common.policy import Principal
from common.service import (
    Problems, apply_changes, audit_write, choice, optional_text, required_text, utcnow, visible_enterprise,
)

CONTROL_LEVELS = {"general": N_("General attention"), "focus": N_("Close attention"), "strict": N_("Strict control")}


def require_police(p: Principal) -> None:
    """Other roles are answered as if the register did not exist (404), on every path."""
    if not policy.is_police(p):
        raise NotFound()


def _rule(p: Principal) -> ColumnElement[bool]:
    # The office keeps the whole register; a liaison officer the records their unit is responsible for.
    if p.is_office:
        return true()
    return KeyPerson.responsible_unit == p.unit_id


def scoped(p: Principal) -> Select[Any]:
    require_police(p)
    return select(KeyPerson).where(_rule(p), KeyPerson.deleted_at.is_(None))


def get_visible(session: Session, p: Principal, key_person_id: uuid.UUID) -> KeyPerson:
    row = session.scalars(scoped(p).where(KeyPerson.id == key_person_id)).first()
    if row is None:
        raise NotFound()
    return row


def view(session: Session, p: Principal, key_person_id: uuid.UUID) -> KeyPerson:
    """One record, its read recorded."""
    row = get_visible(session, p, key_person_id)
    audit_write(session, p, "key_person.viewed", "key_person", row.id)
    return row


def clean(session: Session, p: Principal, data: dict[str, Any], partial: bool) -> dict[str, Any]:
    problems = Problems()
    out: dict[str, Any] = {}
    if not partial or "name" in data:
        out["name"] = required_text(problems, data, "name", 100)
    if "id_number" in data:
        raw = str(data.get("id_number") or "").strip()
        out["id_number"] = problems.check(v.validate_id_number, raw) if raw else ""
    if "phone" in data:
        raw = str(data.get("phone") or "").strip()
        out["phone"] = problems.check(v.validate_mobile, raw) if raw else ""
    if not partial or "control_level" in data:
        out["control_level"] = choice(problems, {"control_level": data.get("control_level") or "general"},
                                      "control_level", CONTROL_LEVELS)
    if "notes" in data:
        out["notes"] = optional_text(problems, data, "notes", v.MAX_LONG_TEXT) or ""
    if "enterprise_id" in data:
        if data.get("enterprise_id") in (None, ""):
            out["enterprise_id"] = None
        else:
            enterprise = visible_enterprise(session, p, problems, data)
            out["enterprise_id"] = enterprise.id if enterprise is not None else None
    if p.role == "liaison":
        # A liaison officer keeps their own unit's records.
        out["responsible_unit"] = p.unit_id
    elif not partial or "responsible_unit" in data:
        unit_id = str(data.get("responsible_unit") or "").strip() or None
        if unit_id is not None and session.get(Unit, unit_id) is None:
            problems.add("responsible_unit", N_("No such unit"))
        out["responsible_unit"] = unit_id
    problems.raise_if_any()
    return out


def create(session: Session, p: Principal, data: dict[str, Any]) -> KeyPerson:
    require_police(p)
    values = clean(session, p, data, partial=False)
    row = KeyPerson(created_by=p.user_id, **values)
    session.add(row)
    session.flush()
    audit_write(session, p, "create", "key_person", row.id, {"control_level": row.control_level,
                                                            "responsible_unit": row.responsible_unit})
    return row


def update(session: Session, p: Principal, key_person_id: uuid.UUID, data: dict[str, Any]) -> KeyPerson:
    row = get_visible(session, p, key_person_id)
    changed = apply_changes(row, clean(session, p, data, partial=True))
    if changed:
        session.flush()
        audit_write(session, p, "update", "key_person", row.id, {"changed": changed})
    return row


def delete(session: Session, p: Principal, key_person_id: uuid.UUID) -> None:
    row = get_visible(session, p, key_person_id)
    row.deleted_at = utcnow()
    session.flush()
    audit_write(session, p, "delete", "key_person", row.id)


def add_follow_up(session: Session, p: Principal, key_person_id: uuid.UUID, data: dict[str, Any]) -> KeyPersonFollowUp:
    row = get_visible(session, p, key_person_id)
    problems = Problems()
    text = required_text(problems, data, "text", v.MAX_LONG_TEXT)
    day = date.today()
    if data.get("day") not in (None, ""):
        try:
            day = date.fromisoformat(str(data["day"])[:10])
        except ValueError:
            problems.add("day", N_("Not a valid date"))
    problems.raise_if_any()
    follow = KeyPersonFollowUp(key_person_id=row.id, day=day, by_user=p.user_id, by_name=p.username[:100], text=text)
    session.add(follow)
    session.flush()
    audit_write(session, p, "follow_up", "key_person", row.id, {"follow_up": str(follow.id), "day": day.isoformat()})
    return follow


def follow_ups(session: Session, key_person_id: uuid.UUID) -> list[KeyPersonFollowUp]:
    return list(session.scalars(select(KeyPersonFollowUp).where(KeyPersonFollowUp.key_person_id == key_person_id)
                                .order_by(KeyPersonFollowUp.day.desc(), KeyPersonFollowUp.created_at.desc())))


def search(p: Principal, q: str = "", control_level: str = "", unit: str = "") -> Select[Any]:
    stmt = scoped(p)
    if q.strip():
        like = f"%{q.strip()}%"
        stmt = stmt.where(or_(KeyPerson.name.ilike(like), KeyPerson.notes.ilike(like)))
    if control_level in CONTROL_LEVELS:
        stmt = stmt.where(KeyPerson.control_level == control_level)
    if unit:
        stmt = stmt.where(KeyPerson.responsible_unit == unit)
    return stmt.order_by(KeyPerson.name, KeyPerson.id)


def out(row: KeyPerson, follow: list[KeyPersonFollowUp] | None = None) -> dict[str, Any]:
    """Masked always: the full numbers only through `reveal`."""
    data: dict[str, Any] = {
        "id": str(row.id), "name": row.name, "id_number": v.mask_id_number(row.id_number) if row.id_number else "",
        "phone": v.mask_phone(row.phone) if row.phone else "", "enterprise_id": str(row.enterprise_id) if row.enterprise_id else None,
        "control_level": row.control_level, "responsible_unit": row.responsible_unit, "notes": row.notes,
        "created_at": row.created_at.isoformat(), "updated_at": row.updated_at.isoformat(),
    }
    if follow is not None:
        data["follow_ups"] = [{"id": str(f.id), "day": f.day.isoformat(), "by": f.by_name, "text": f.text} for f in follow]
    return data


def reveal(session: Session, p: Principal, key_person_id: uuid.UUID, reason: str) -> dict[str, Any]:
    """The ID number and phone in full, recorded as `key_person.revealed` with the reason."""
    row = get_visible(session, p, key_person_id)
    audit_write(session, p, "key_person.revealed", "key_person", row.id,
                {"reason": reason, "fields": ["id_number", "phone"]})
    return {"id": str(row.id), "name": row.name, "id_number": row.id_number, "phone": row.phone}
