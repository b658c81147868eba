"""Pieces every service shares: collecting field problems, auditing changes, soft delete."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Callable

from sqlalchemy.orm import Session

from common import audit
from common.errors import InvalidField
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


def audit_write(session: Session, p: Principal, action: str, entity_type: str, entity_id: Any,
                detail: dict[str, Any] | None = None) -> None:
    audit.record(session, p.node_id, action, actor=p.username, actor_id=p.user_id, entity_type=entity_type,
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


def soft_delete(row: Any) -> None:
    row.deleted_at = utcnow()
