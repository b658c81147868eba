"""Pieces every service shares: collecting field problems, auditing changes, soft delete."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Callable

from sqlalchemy.orm import Session

from common.audit import trail as audit
from common import policy, rules
from common.errors import Forbidden, InvalidField
from common.i18n import N_
from common.models import utcnow
from common.policy import Principal


class Problems:
    """Gather every refused field of one request, so the person sees them all at once."""

    def __init__(self) -> None:
        self.errors: list[InvalidField] = []

    def check(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except InvalidField as exc:
            self.errors.append(exc)
            return None

    def add(self, field: str, message: str, **params: Any) -> None:
        self.errors.append(InvalidField(field, message, **params))

    def raise_if_any(self) -> None:
        if self.errors:
            raise InvalidField.collect(self.errors)


def required_text(problems: Problems, data: dict[str, Any], field: str, max_len: int) -> str | None:
    value = data.get(field)
    if value is None or not str(value).strip():
        problems.add(field, N_("This field is required"))
        return None
    value = str(value).strip()
    if len(value) > max_len:
        problems.add(field, N_("At most {max} characters"), max=max_len)
        return None
    return value


def optional_text(problems: Problems, data: dict[str, Any], field: str, max_len: int) -> str | None:
    value = data.get(field)
    if value is None:
        return None
    value = str(value).strip()
    if len(value) > max_len:
        problems.add(field, N_("At most {max} characters"), max=max_len)
        return None
    return value


def choice(problems: Problems, data: dict[str, Any], field: str, allowed: dict[str, str] | set[str], required: bool = True) -> str | None:
    value = data.get(field)
    if value in (None, ""):
        if required:
            problems.add(field, N_("This field is required"))
        return None
    if value not in allowed:
        problems.add(field, N_("Not one of the allowed values"))
        return None
    return str(value)


def parse_uuid(problems: Problems, data: dict[str, Any], field: str, required: bool = True) -> uuid.UUID | None:
    value = data.get(field)
    if value in (None, ""):
        if required:
            problems.add(field, N_("This field is required"))
        return None
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        problems.add(field, N_("Not a valid id"))
        return None


def parse_datetime(problems: Problems, data: dict[str, Any], field: str, required: bool = True) -> datetime | None:
    value = data.get(field)
    if value in (None, ""):
        if required:
            problems.add(field, N_("This field is required"))
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError:
            problems.add(field, N_("Not a valid date and time"))
            return None
    if parsed.tzinfo is None:
        # Times typed into a form are the office's local time (China Standard Time).
        from zoneinfo import ZoneInfo

        parsed = parsed.replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    return parsed


def visible_enterprise(session: Session, p: Principal, problems: Problems, data: dict[str, Any],
                       field: str = "enterprise_id", required: bool = True) -> Any:
    """The enterprise a new row hangs off, looked up only among those `p` may see (else a field problem)."""
    from common.models import Enterprise

    enterprise_id = parse_uuid(problems, data, field, required=required)
    if enterprise_id is None:
        return None
    enterprise = session.scalars(policy.scoped(Enterprise, p).where(Enterprise.id == enterprise_id)).first()
    if enterprise is None:
        problems.add(field, N_("No such enterprise"))
    return enterprise


def enforce_rules(entity: str, p: Principal, current: Any, values: dict[str, Any]) -> None:
    """The write rules a sync push is held to (common/rules.py), for a write through a page or the API: a field the
    role may not set is refused (403), naming the field."""
    before = None if current is None else {name: getattr(current, name) for name in values if hasattr(current, name)}
    try:
        rules.check_fields(entity, p.role, before, values)
    except rules.RuleBroken as broken:
        raise Forbidden(broken.message, field=broken.field_name) from None


def update_row(session: Session, p: Principal, model: type, resource: str, row_id: Any,
               values_for: Callable[[Any], dict[str, Any]]) -> Any:
    """Change a row `p` may see and write: only the fields that differ, audited with old and new values."""
    row = policy.get_visible(session, model, row_id, p)
    policy.require_write(p, resource, "update", row.node_id)
    changed = apply_changes(row, values_for(row))
    if changed:
        session.flush()
        audit_write(session, p, "update", resource, row.id, {"changed": changed})
    return row


def delete_row(session: Session, p: Principal, model: type, resource: str, row_id: Any) -> Any:
    """Soft-delete a row `p` may see and delete; the tombstone syncs like any other change."""
    row = policy.get_visible(session, model, row_id, p)
    policy.require_write(p, resource, "delete", row.node_id)
    row.deleted_at = utcnow()
    session.flush()
    audit_write(session, p, "delete", resource, row.id)
    return row


def audit_write(session: Session, p: Principal, action: str, entity_type: str, entity_id: Any,
                detail: dict[str, Any] | None = None) -> None:
    # Each node keeps one chain of what was recorded in its own database, whoever it was recorded for.
    audit.record(session, str(session.info.get("node_id") or "hub"), action, actor=p.username, actor_id=p.user_id, entity_type=entity_type,
                 entity_id=entity_id, detail=detail, address=p.address)


# Personal data is never copied in clear into the audit trail: that a field changed is what matters.
SENSITIVE = frozenset({"id_number", "phone", "head_phone", "contact_phone", "password_hash"})


def apply_changes(row: Any, values: dict[str, Any]) -> dict[str, list[Any]]:
    """Set the values that differ; return {field: [old, new]} for the audit trail."""
    changed: dict[str, list[Any]] = {}
    for key, value in values.items():
        old = getattr(row, key)
        if old != value:
            changed[key] = ["***", "***"] if key in SENSITIVE else [old, value]
            setattr(row, key, value)
    return changed

