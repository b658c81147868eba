"""Who the hub tells of what arrives from a spoke. A spoke tells no one (its writes are not final until the hub has
them: common/notify/service.py), so what its people did offline is told here, once the hub holds it, as the same
act at the hub would have told it: a task's owner answering it (its feedback) tells whoever gave the task."""
from __future__ import annotations

import uuid
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from common.models import Task
from common.notify.service import Audience, Notice, notify
from sync.wire import Change, Rejected


def tell_arrivals(session: Session, changes: Iterable[Change], rejected: Iterable[Rejected]) -> None:
    refused = {(r.entity, r.id) for r in rejected}
    answered: dict[uuid.UUID, str | None] = {}
    for change in changes:
        if change.entity == "task" and (change.entity, change.id) not in refused \
                and (change.values or {}).get("status") == "submitted":
            try:
                answered[uuid.UUID(change.id)] = change.actor
            except (ValueError, TypeError):
                continue
    if not answered:
        return
    for task in session.scalars(select(Task).where(Task.id.in_(answered), Task.status == "submitted",
                                                   Task.deleted_at.is_(None))):
        actor = _uuid(answered[task.id])
        notify(session, f"task:{task.id}:submitted:{task.version}", Notice(
            kind="task.submitted", title=f"任务已反馈：{task.title}"[:300], body=(task.feedback or "")[:2000],
            link=f"/tasks/{task.id}", entity_type="task", entity_id=task.id),
            Audience(users=(task.created_by,) if task.created_by else (), office=not task.created_by,
                     exclude=(actor,) if actor else ()))


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except (ValueError, TypeError):
        return None
