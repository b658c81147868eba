"""Tasks (Art. 17(11), 18(1)): the office (its leaders directly) gives work to a unit, a node or a person with a due
day; the owner answers with feedback, at the hub or offline at their spoke; the office accepts it, sends it back or
cancels the task. A task lives at its owner's node, so it syncs there and its feedback comes back."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from common import policy
from common import validation as v
from common.errors import Conflict, Forbidden, InvalidField
from common.i18n import N_
from common.models import Node, Task, Unit, User, utcnow
from common.policy import Principal
from common.service import Problems, apply_changes, audit_write, choice, enforce_rules, optional_text, parse_uuid, required_text
from common.tasks.reference import OFFICE_ACTIONS, TASK_SOURCES, TASK_STATUSES

CST = ZoneInfo("Asia/Shanghai")
OWNERS = ("owner_unit", "owner_node", "owner_user")


def today(now: datetime | None = None) -> date:
    """The office's day (China Standard Time)."""
    return (now or utcnow()).astimezone(CST).date()


def _due(problems: Problems, data: dict[str, Any]) -> date | None:
    raw = data.get("due")
    if raw in (None, ""):
        return None
    if isinstance(raw, date):
        return raw
    try:
        return date.fromisoformat(str(raw)[:10])
    except ValueError:
        problems.add("due", N_("Not a valid date"))
        return None


def _owner(session: Session, problems: Problems, data: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Exactly one owner, and the node where the task lives: a unit's at the hub, a node's at it, a person's at theirs."""
    given = [name for name in OWNERS if data.get(name) not in (None, "")]
    if len(given) != 1:
        problems.add("owner_unit", N_("Give exactly one owner: a unit, a node or a person"))
        return {}, None
    name = given[0]
    if name == "owner_unit":
        unit = session.get(Unit, str(data[name]))
        if unit is None:
            problems.add(name, N_("No such unit"))
            return {}, None
        return {"owner_unit": unit.id, "owner_node": None, "owner_user": None}, "hub"
    if name == "owner_node":
        node = session.get(Node, str(data[name]))
        if node is None or node.status != "active":
            problems.add(name, N_("No such node"))
            return {}, None
        return {"owner_unit": None, "owner_node": node.id, "owner_user": None}, node.id
    user_id = parse_uuid(problems, data, name)
    user = session.get(User, user_id) if user_id else None
    if user_id and (user is None or user.deleted_at is not None or not user.active):
        problems.add(name, N_("No such person"))
        return {}, None
    if user is None:
        return {}, None
    return {"owner_unit": None, "owner_node": None, "owner_user": user.id}, user.node_id or "hub"


def create_task(session: Session, p: Principal, data: dict[str, Any]) -> Task:
    """The office gives a task; a leader's own assignment is `source` leader (Art. 17(11)), a leader's alone."""
    policy.require_write(p, "task", "create")
    problems = Problems()
    title = required_text(problems, data, "title", 200)
    body = optional_text(problems, data, "body", v.MAX_BODY) or ""
    due = _due(problems, data)
    source = choice(problems, {"source": data.get("source") or ("leader" if p.leader else "other")}, "source",
                    TASK_SOURCES)
    owner, node_id = _owner(session, problems, data)
    if data.get("status") not in (None, "", "open"):
        problems.add("status", N_("A new task is open"))
    problems.raise_if_any()
    if source == "leader" and not p.leader:
        raise Forbidden(N_("Only the center's leaders assign tasks directly."), field="source")
    task = Task(title=title, body=body, due=due, source=source, status="open", created_by=p.user_id,
                node_id=node_id, **owner)
    for name in ("meeting_id", "report_id"):
        if data.get(name):
            setattr(task, name, parse_uuid(problems, data, name, required=False))
    if data.get("period"):
        task.period = str(data["period"])[:16]
    problems.raise_if_any()
    session.add(task)
    session.flush()
    audit_write(session, p, "create", "task", task.id, {"source": source, **{k: str(v_) for k, v_ in owner.items() if v_}})
    tell_assigned(session, task, p.user_id)
    return task


def audience_of(task: Task) -> Any:
    from common.notify.service import Audience

    if task.owner_unit:
        return Audience(units=(task.owner_unit,))
    if task.owner_node:
        return Audience(nodes=(task.owner_node,))
    return Audience(users=(task.owner_user,)) if task.owner_user else Audience()


def tell_assigned(session: Session, task: Task, by: uuid.UUID | None) -> None:
    from common.notify.service import Notice, notify

    due = f"（{task.due.isoformat()} 前完成）" if task.due else ""
    notify(session, f"task:{task.id}:assigned", Notice(
        kind="task.assigned", title=f"新任务：{task.title}{due}"[:300], body=task.body[:2000], link=f"/tasks/{task.id}",
        entity_type="task", entity_id=task.id, group_text=f"新任务：{task.title}{due}"), audience_of(task))


def may_answer(p: Principal, task: Task) -> bool:
    """Whether `p` is (one of) the task's owner: the person, the unit's liaison, a person of the node."""
    if task.owner_user is not None:
        return task.owner_user == p.user_id
    if task.owner_unit is not None:
        return p.role == "liaison" and p.unit_id == task.owner_unit
    return task.owner_node is not None and p.role in ("subcenter", "enterprise") and p.node_id == task.owner_node


def submit_feedback(session: Session, p: Principal, task_id: uuid.UUID, feedback: str) -> Task:
    """The owner's answer: open (or already submitted, amended) -> submitted."""
    task = policy.get_visible(session, Task, task_id, p)
    if not may_answer(p, task):
        raise Forbidden(N_("Only the task's owner may answer it."))
    policy.require_write(p, "task", "update", task.node_id if not p.is_office else None)
    if task.status not in ("open", "submitted"):
        raise Conflict(N_("This task is closed."))
    text = (feedback or "").strip()
    if not text:
        raise InvalidField("feedback", N_("This field is required"))
    if len(text) > v.MAX_LONG_TEXT:
        raise InvalidField("feedback", N_("At most {max} characters"), max=v.MAX_LONG_TEXT)
    values = {"feedback": text, "status": "submitted", "feedback_at": utcnow()}
    enforce_rules("task", p, task, values)
    changed = apply_changes(task, values)
    session.flush()
    audit_write(session, p, "feedback", "task", task.id, {"changed": sorted(changed)})
    from common.notify.service import Audience, Notice, notify

    notify(session, f"task:{task.id}:submitted:{task.version}", Notice(
        kind="task.submitted", title=f"任务已反馈：{task.title}"[:300], body=text[:2000], link=f"/tasks/{task.id}",
        entity_type="task", entity_id=task.id), Audience(users=(task.created_by,) if task.created_by else (), office=not task.created_by,
                                                         exclude=(p.user_id,) if p.user_id else ()))
    return task


def office_decide(session: Session, p: Principal, task_id: uuid.UUID, action: str, comment: str = "") -> Task:
    """The office accepts the feedback (done), sends it back (open, with a comment) or cancels the task."""
    policy.require_office(p)
    task = policy.get_visible(session, Task, task_id, p)
    if action not in OFFICE_ACTIONS:
        raise InvalidField("action", N_("Not one of the allowed values"))
    before, after = OFFICE_ACTIONS[action]
    comment = (comment or "").strip()[:v.MAX_NOTE]
    if before is not None and task.status != before:
        raise Conflict(N_("The task is not awaiting this decision."))
    if action == "cancel" and task.status in ("done", "cancelled"):
        raise Conflict(N_("This task is closed."))
    if action == "return" and not comment:
        raise InvalidField("comment", N_("Say what is missing"))
    changed = apply_changes(task, {"status": after, "comment": comment})
    session.flush()
    audit_write(session, p, action, "task", task.id, {"changed": changed})
    from common.notify.service import Notice, notify

    title = {"accept": "任务反馈已通过：", "return": "任务反馈被退回：", "cancel": "任务已取消："}[action] + task.title
    notify(session, f"task:{task.id}:{action}:{task.version}", Notice(
        kind=f"task.{action}", title=title[:300], body=comment, link=f"/tasks/{task.id}", entity_type="task",
        entity_id=task.id), audience_of(task))
    return task


def task_query(p: Principal, status: str = "", source: str = "", mine: bool = False, q: str = "") -> Select[Any]:
    stmt = policy.scoped(Task, p)
    if status in TASK_STATUSES:
        stmt = stmt.where(Task.status == status)
    if source in TASK_SOURCES:
        stmt = stmt.where(Task.source == source)
    if mine:
        stmt = stmt.where(owned_by(p))
    if q.strip():
        like = f"%{q.strip()}%"
        stmt = stmt.where(or_(Task.title.ilike(like), Task.body.ilike(like)))
    return stmt.order_by(Task.due.is_(None), Task.due, Task.created_at.desc(), Task.id)


def owned_by(p: Principal) -> Any:
    """The tasks that are `p`'s to answer (see may_answer)."""
    clauses = []
    if p.user_id is not None:
        clauses.append(Task.owner_user == p.user_id)
    if p.role == "liaison" and p.unit_id:
        clauses.append(Task.owner_unit == p.unit_id)
    if p.role in ("subcenter", "enterprise"):
        clauses.append(Task.owner_node == p.node_id)
    return or_(*clauses) if clauses else and_(Task.id.is_(None))


def my_open_tasks(session: Session, p: Principal, limit: int = 10) -> list[Task]:
    """The home page's panel: open tasks that are `p`'s, soonest due first."""
    stmt = policy.scoped(Task, p).where(owned_by(p), Task.status == "open")
    return list(session.scalars(stmt.order_by(Task.due.is_(None), Task.due, Task.id).limit(limit)))


def task_out(t: Task, p: Principal) -> dict[str, Any]:
    return {
        "id": str(t.id), "title": t.title, "body": t.body, "owner_unit": t.owner_unit, "owner_node": t.owner_node,
        "owner_user": str(t.owner_user) if t.owner_user else None, "due": t.due.isoformat() if t.due else None,
        "source": t.source, "status": t.status, "feedback": t.feedback,
        "feedback_at": t.feedback_at.isoformat() if t.feedback_at else None, "comment": t.comment,
        "overdue": bool(t.due and t.status == "open" and t.due < today()), "period": t.period,
        "meeting_id": str(t.meeting_id) if t.meeting_id else None, "node": t.node_id, "version": t.version,
        "created_at": t.created_at.isoformat(),
    }


def due_for_reminders(session: Session, now: datetime) -> list[tuple[Task, str]]:
    """Open tasks due tomorrow (step `due_soon`) or past due (step `overdue`)."""
    day = today(now)
    rows = session.scalars(select(Task).where(Task.status == "open", Task.deleted_at.is_(None), Task.due.is_not(None),
                                              Task.due <= day + timedelta(days=1))).all()
    return [(t, "overdue" if t.due < day else "due_soon") for t in rows if t.due != day]



