"""What syncs, in which direction, and how a row travels: the registry of synced entities and their wire form."""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Callable

from sqlalchemy import JSON, BigInteger, Column, SmallInteger, Table

from common import rules
from common.errors import InvalidField
from common.validation import check_json_size
from common.models import (
    Attachment, AuditEntry, Bulletin, BulletinAck, BulletinReminder, Case, CaseEvent, Enterprise, InfoReport, NodeApplication, Notification, Person, SurveyAnswer, Task,
    Visit,
)

# Kept by each node for itself: never merged field by field.
HOUSEKEEPING = frozenset({"id", "version", "created_at", "updated_at", "field_versions", "pushed_by", "pushed_version"})
# Kept by the hub only (whose push made a row's version): never sent to a spoke.
HUB_ONLY = frozenset({"pushed_by", "pushed_version"})


@dataclass(frozen=True)
class Entity:
    """One synced table.

    `resource` names it in the policy's table of writers (None: checked by its own rule); `derived` fields are
    worked out again on every node (a case's status from its events) and never travel as edits.
    """

    name: str
    model: Any
    resource: str | None
    push: bool = True
    pull: bool = True
    append_only: bool = False
    derived: frozenset[str] = frozenset()
    table: Table = field(init=False)
    fields: tuple[str, ...] = field(init=False)
    decoders: dict[str, Callable[[Any], Any]] = field(init=False)
    checks: dict[str, Callable[[Any], str | None]] = field(init=False)

    def __post_init__(self) -> None:
        # Every synced table has its write rules (common/rules.py): a new one without them fails here, at import,
        # so the push path cannot be forgotten.
        rules.rules_for(self.name)
        table = self.model.__table__
        object.__setattr__(self, "table", table)
        object.__setattr__(self, "fields", tuple(c.name for c in table.columns
                                                 if c.name not in HOUSEKEEPING and c.name not in self.derived))
        object.__setattr__(self, "decoders", {c.name: decoder for c in table.columns
                                              if (decoder := _decoder_for(c)) is not None})
        object.__setattr__(self, "checks", {c.name: check for c in table.columns
                                            if (check := _check_for(self.name, c)) is not None})

    @property
    def columns(self) -> list[str]:
        return [c.name for c in self.table.columns]

    def decode(self, values: dict[str, Any], strict: bool = False) -> dict[str, Any]:
        """Wire values (JSON) into what the table's columns take; an unknown column is a malformed row. `strict` (a
        spoke's push at the hub): a value its column cannot hold (a string too long, text where a flag goes) too."""
        out: dict[str, Any] = {}
        columns = self.table.columns
        for key, value in values.items():
            if key not in columns:
                raise ValueError(f"{self.name} has no field {key!r}")
            if strict and value is not None and (check := self.checks.get(key)) is not None:
                problem = check(value)
                if problem is not None:
                    raise ValueError(f"{self.name}.{key}: {problem}")
            decoder = self.decoders.get(key)
            out[key] = decoder(value) if decoder is not None and value is not None else value
        return out


def _decoder_for(column: Column[Any]) -> Callable[[Any], Any] | None:
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return None
    if python_type is uuid.UUID:
        return lambda v: v if isinstance(v, uuid.UUID) else uuid.UUID(str(v))
    if python_type is datetime:
        return lambda v: v if isinstance(v, datetime) else datetime.fromisoformat(str(v))
    if python_type is date:
        return lambda v: v if isinstance(v, date) else date.fromisoformat(str(v))
    return None


def _check_for(entity: str, column: Column[Any]) -> Callable[[Any], str | None] | None:
    """What a pushed value must be for its column (None where the decoder or the column's type decides). Texts and
    JSON values are bounded as the API bounds them (common/rules.py sizes), whatever the database would take."""
    if isinstance(column.type, JSON):
        most = rules.size_limit(entity, column.name, json=True)

        def bounded(value: Any) -> str | None:
            try:
                check_json_size(value, column.name, most)
            except InvalidField as exc:
                problem = exc.problems[0]
                return problem.message.format(**problem.params)
            return None

        return bounded
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return None
    if python_type is str:
        length = getattr(column.type, "length", None) or rules.size_limit(entity, column.name, json=False)

        def text(value: Any) -> str | None:
            if not isinstance(value, str):
                return f"text expected, got {type(value).__name__}"
            if length is not None and len(value) > length:
                return f"longer than {length} characters"
            return None

        return text
    if python_type is bool:
        return lambda v: None if isinstance(v, bool) else f"true or false expected, got {type(v).__name__}"
    if python_type is int:
        bits = 63 if isinstance(column.type, BigInteger) else 15 if isinstance(column.type, SmallInteger) else 31

        def whole(value: Any) -> str | None:
            if not isinstance(value, int) or isinstance(value, bool):
                return f"a whole number expected, got {type(value).__name__}"
            if not -(1 << bits) <= value < (1 << bits):
                return "a number too large for the field"
            return None

        return whole
    if python_type is float:
        return lambda v: None if isinstance(v, (int, float)) and not isinstance(v, bool) else f"a number expected, got {type(v).__name__}"
    return None


# In the order rows are applied: a row comes after the rows it refers to.
ENTITIES: tuple[Entity, ...] = (
    Entity("enterprise", Enterprise, "enterprise"),
    Entity("person", Person, "person"),
    Entity("node_application", NodeApplication, "application"),
    Entity("case_record", Case, "case", derived=frozenset({"status", "emergency", "lead_unit"})),
    Entity("case_event", CaseEvent, None, append_only=True),
    Entity("visit", Visit, "visit"),
    Entity("info_report", InfoReport, "info_report"),
    # Given by the office, held at the owner's node; its owner's feedback comes back.
    Entity("task", Task, "task"),
    Entity("attachment", Attachment, None),
    # Published by the office at the hub; reaches the spokes of its audience (see BY_AUDIENCE in sync/hub/scope.py).
    Entity("bulletin", Bulletin, "bulletin", push=False),
    Entity("bulletin_reminder", BulletinReminder, None, push=False, append_only=True),
    Entity("bulletin_ack", BulletinAck, None, pull=False, append_only=True),
    # Written by the hub alone, held by the spoke of the person's node; a spoke sends back only that it was read.
    Entity("notification", Notification, "notification"),
    # Made by the office at the hub for each workstation when the year's questionnaire is sent; answered there.
    Entity("survey_answer", SurveyAnswer, "survey_answer"),
    # A node's own audit trail goes to the hub, where its chain can be verified; the hub's stays at the hub.
    Entity("audit_entry", AuditEntry, None, pull=False, append_only=True),
)
BY_NAME = {e.name: e for e in ENTITIES}
BY_MODEL = {e.model: e for e in ENTITIES}
RANK = {e.name: i for i, e in enumerate(ENTITIES)}
