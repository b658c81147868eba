"""The police units of Art. 16 and the police stations the office adds as data: list, add, rename, reorder, deactivate.

A unit's id is part of the outside contract (case events name it), so it is never changed once given; a unit that
is no longer wanted is deactivated, never deleted, and only once no open case waits on it.
"""
from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from common import policy
from common.cases.vocabulary import Status
from common.errors import Conflict, NotFound
from common.i18n import N_
from common.models import Case, CaseUnit, Unit, User
from common.notify.webhooks import clean_webhook_url, masked_change
from common.policy import Principal
from common.service import Problems, apply_changes, audit_write, optional_text, required_text

# `ps-` and then lowercase ascii letters, digits and single hyphens between them: `ps-huilong`, `ps-lvsi-2`.
STATION_ID = re.compile(r"^ps-[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_ID = 64
MAX_SORT_ORDER = 1_000_000
# A case still waits on a unit dispatched to it until it is filed, closed or handed to the police elsewhere.
DONE_STATUSES = (Status.FILED.value, Status.CLOSED.value, Status.TRANSFERRED.value)
MSG_OPEN_CASES = N_("This unit still has {n} open cases dispatched to it: it can be deactivated once they are "
                    "filed or closed, or once it has returned them.")


def unit_out(u: Unit, office: bool = False) -> dict[str, Any]:
    """A unit as the API shows it; its WeCom robot's address to the office only (its key lets anyone post)."""
    out = {"id": u.id, "name": u.name, "name_en": u.name_en, "kind": u.kind, "active": u.active,
           "sort_order": u.sort_order}
    if office:
        out["webhook_url"] = u.webhook_url
    return out


def ordered(stmt: Any) -> Any:
    return stmt.order_by(Unit.sort_order, Unit.id)


def units_stmt(p: Principal, include_inactive: bool = False) -> Any:
    """The units a caller may list: the active ones for everyone, the deactivated ones too for the office."""
    stmt = select(Unit)
    if not (include_inactive and p.is_office):
        stmt = stmt.where(Unit.active.is_(True))
    return ordered(stmt)


def open_cases_of(session: Session, unit_id: str) -> int:
    """Cases not yet done on which the unit is still dispatched (a unit that returned a case is off it)."""
    return session.scalar(
        select(func.count()).select_from(CaseUnit).join(Case, Case.id == CaseUnit.case_id)
        .where(CaseUnit.unit_id == unit_id, CaseUnit.active.is_(True), Case.deleted_at.is_(None),
               Case.status.not_in(DONE_STATUSES))) or 0


def _clean_sort_order(problems: Problems, data: dict[str, Any]) -> int | None:
    value = data.get("sort_order")
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        problems.add("sort_order", N_("A whole number from 0 to {max}"), max=MAX_SORT_ORDER)
        return None
    try:
        number = int(value)
    except ValueError:
        number = -1
    if not 0 <= number <= MAX_SORT_ORDER:
        problems.add("sort_order", N_("A whole number from 0 to {max}"), max=MAX_SORT_ORDER)
        return None
    return number


def _clean_active(problems: Problems, data: dict[str, Any]) -> bool | None:
    value = data.get("active")
    if isinstance(value, bool):
        return value
    if value in ("true", "on", "1"):
        return True
    if value in ("false", "off", "0"):
        return False
    problems.add("active", N_("Not one of the allowed values"))
    return None


def _clean_names(session: Session, problems: Problems, data: dict[str, Any], partial: bool,
                 current: Unit | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "name" in data or not partial:
        name = required_text(problems, data, "name", 100)
        if name is not None:
            same = select(Unit.id).where(Unit.name == name)
            if current is not None:
                same = same.where(Unit.id != current.id)
            if session.scalar(same.limit(1)) is not None:
                problems.add("name", N_("Another unit already has this name."))
            out["name"] = name
    if "name_en" in data or not partial:
        out["name_en"] = optional_text(problems, data, "name_en", 100) or ""
    return out


def create_station(session: Session, p: Principal, data: dict[str, Any]) -> Unit:
    """A police station added as data; it takes the last place in the order unless given one."""
    policy.require_office(p)
    problems = Problems()
    unit_id = data.get("id")
    if not isinstance(unit_id, str) or not unit_id.strip():
        problems.add("id", N_("This field is required"))
        unit_id = None
    else:
        unit_id = unit_id.strip()
        if len(unit_id) > MAX_ID or not STATION_ID.match(unit_id):
            problems.add("id", N_("A police station's id is ps- followed by lowercase letters, digits and hyphens, "
                                  "e.g. ps-huilong."))
            unit_id = None
        elif session.get(Unit, unit_id) is not None:
            problems.add("id", N_("A unit with this id already exists."))
            unit_id = None
    values = _clean_names(session, problems, data, partial=False, current=None)
    sort_order = _clean_sort_order(problems, data) if data.get("sort_order") not in (None, "") else None
    active = _clean_active(problems, data) if data.get("active") not in (None, "") else True
    webhook_url = clean_webhook_url(problems, data)
    problems.raise_if_any()
    last = session.scalar(select(func.count()).select_from(Unit)) or 0
    unit = Unit(id=unit_id, kind="station", sort_order=last, active=active, webhook_url=webhook_url, **values)
    session.add(unit)
    session.flush()
    audit_write(session, p, "create", "unit", unit.id, {"name": unit.name, "kind": unit.kind})
    # A new station goes last unless given its place; the order is kept gapless either way.
    _place(session, p, unit, last if sort_order is None else sort_order)
    return unit


def update_unit(session: Session, p: Principal, unit_id: str, data: dict[str, Any]) -> Unit:
    """Rename, reorder, deactivate or reactivate a unit; its id never changes. `sort_order` is the place in the
    order to move it to (0 is first), the others keeping their order around it."""
    policy.require_office(p)
    unit = session.get(Unit, unit_id)
    if unit is None:
        raise NotFound()
    problems = Problems()
    if "id" in data and data["id"] != unit.id:
        problems.add("id", N_("A unit's id cannot be changed."))
    values = _clean_names(session, problems, data, partial=True, current=unit)
    if "sort_order" in data:
        values["sort_order"] = _clean_sort_order(problems, data)
    if "active" in data:
        values["active"] = _clean_active(problems, data)
    if "webhook_url" in data:
        values["webhook_url"] = clean_webhook_url(problems, data)
    problems.raise_if_any()
    if values.get("active") is False and unit.active:
        waiting = open_cases_of(session, unit.id)
        if waiting:
            raise Conflict(MSG_OPEN_CASES, n=waiting)
    position = values.pop("sort_order", None)
    changed = apply_changes(unit, values)
    if changed:
        session.flush()
        audit_write(session, p, "update", "unit", unit.id, {"changed": masked_change(changed)})
    if position is not None:
        _place(session, p, unit, position)
    return unit


def _place(session: Session, p: Principal, unit: Unit, position: int) -> None:
    """Put the unit at `position` of the order (0 is first); the others keep their order around it, numbered 0, 1, …"""
    others = [u for u in session.scalars(ordered(select(Unit))) if u.id != unit.id]
    others.insert(min(position, len(others)), unit)
    for place, each in enumerate(others):
        if each.sort_order != place:
            audit_write(session, p, "update", "unit", each.id, {"changed": {"sort_order": [each.sort_order, place]}})
            each.sort_order = place
    session.flush()


def move_unit(session: Session, p: Principal, unit_id: str, direction: str) -> Unit:
    """One place up or down in the order; the first stays first, the last stays last."""
    policy.require_office(p)
    ids = list(session.scalars(ordered(select(Unit.id))))
    if unit_id not in ids:
        raise NotFound()
    index = ids.index(unit_id)
    target = index - 1 if direction == "up" else index + 1 if direction == "down" else index
    unit = session.get(Unit, unit_id)
    if target != index and 0 <= target < len(ids):
        _place(session, p, unit, target)
    return unit


def unit_roster(session: Session) -> list[dict[str, Any]]:
    """Every unit in its order with its liaison officers and its leader accounts, for the office's page."""
    units = list(session.scalars(ordered(select(Unit))))
    people: dict[str, list[User]] = {}
    for user in session.scalars(select(User).where(User.unit_id.is_not(None), User.deleted_at.is_(None))
                                .order_by(User.username)):
        people.setdefault(user.unit_id or "", []).append(user)
    open_counts = dict(session.execute(
        select(CaseUnit.unit_id, func.count()).join(Case, Case.id == CaseUnit.case_id)
        .where(CaseUnit.active.is_(True), Case.deleted_at.is_(None), Case.status.not_in(DONE_STATUSES))
        .group_by(CaseUnit.unit_id)).all())
    rows = []
    for unit in units:
        members = people.get(unit.id, [])
        rows.append({"unit": unit, "open_cases": open_counts.get(unit.id, 0),
                     "liaisons": [u for u in members if u.role == "liaison"],
                     "leaders": [u for u in members if u.is_leader and u.role != "liaison"]})
    return rows
