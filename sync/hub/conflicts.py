"""Conflicts: the office decides between a spoke's value and the hub's."""
from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from common import policy
from common.models import SyncConflict, utcnow
from common.policy import Principal
from common.roster.service import move_file
from sync.entities import BY_NAME


def resolve_conflict(session: Session, p: Principal, conflict_id: uuid.UUID, decision: str, merged: str | None) -> SyncConflict:
    """Keep the applied value, replace it with the other, or write a value merged by hand; the new value syncs out."""
    from common.errors import Conflict as StateConflict, InvalidField, NotFound
    from common.i18n import N_
    from common.service import audit_write

    policy.require_office(p)
    conflict = session.get(SyncConflict, conflict_id, with_for_update=True)
    if conflict is None:
        raise NotFound()
    if conflict.status != "open":
        raise StateConflict(N_("This conflict has already been resolved."))
    if decision not in ("keep", "replace", "merge"):
        raise InvalidField("decision", N_("Not one of the allowed values"))
    entity = BY_NAME[conflict.entity]
    row = session.get(entity.model, uuid.UUID(conflict.row_id))
    if row is None:
        raise NotFound()
    if decision != "keep":
        column = entity.table.c[conflict.field]
        if decision == "replace":
            value = entity.decode({conflict.field: conflict.other_value})[conflict.field]
        else:
            if column.type.python_type is not str:
                raise InvalidField("value", N_("Only a text field can be merged by hand."))
            value = (merged or "").strip()
            if not value:
                raise InvalidField("value", N_("Write the merged value."))
        setattr(row, conflict.field, value)  # captured: a new version of the field, pulled by the spokes
        if conflict.entity == "enterprise" and conflict.field == "node_id":
            move_file(session, row)  # its whole file goes with it, as with any move
    conflict.status, conflict.resolution = "resolved", decision
    conflict.resolved_by, conflict.resolved_at = p.user_id, utcnow()
    session.flush()
    audit_write(session, p, "sync.conflict_resolved", entity.name, conflict.row_id,
                {"field": conflict.field, "decision": decision})
    return conflict
