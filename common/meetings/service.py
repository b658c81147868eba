"""The joint meetings (Art. 18(1)): an agenda built from the half year's cases and risk information and the open
resolutions of earlier meetings; the minutes; resolutions that become tasks once the meeting is held."""
from __future__ import annotations

import re
import uuid
from datetime import date, datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from common import policy
from common.errors import Conflict, InvalidField, NotFound
from common.i18n import N_
from common.models import Case, CaseEvent, CaseUnit, InfoReport, Node, Task, Unit, User
from common.meetings.models import Meeting
from common.notify.service import Audience, Notice, notify
from common.orm import utcnow
from common.policy import Principal
from common.service import audit_write

KINDS = ("semiannual", "annual")
STATUSES = ("planned", "held", "closed")
MOVES = {("planned", "held"), ("held", "closed")}
OPEN_TASK = ("open", "submitted")
WORST = 10
MAX_ITEMS = 50
MAX_TEXT = 2000
KIND_TITLES = {"semiannual": "联席会议", "annual": "年度总结会暨恳谈会"}
_PERIOD = {"semiannual": re.compile(r"^(\d{4})-H([12])$"), "annual": re.compile(r"^(\d{4})$")}


def period_of(kind: str, day: date) -> str:
    """The half year (2026-H2) or the year (2026) a day falls in."""
    return f"{day.year}-H{1 if day.month <= 6 else 2}" if kind == "semiannual" else str(day.year)


def period_bounds(kind: str, period: str) -> tuple[datetime, datetime]:
    """[start, end) of a period in UTC; a malformed period is refused."""
    match = _PERIOD.get(kind, re.compile("$^")).match(period or "")
    if match is None:
        raise InvalidField("period", N_("Not one of the allowed values"))
    year = int(match.group(1))
    if kind == "annual":
        return datetime(year, 1, 1, tzinfo=timezone.utc), datetime(year + 1, 1, 1, tzinfo=timezone.utc)
    if match.group(2) == "1":
        return datetime(year, 1, 1, tzinfo=timezone.utc), datetime(year, 7, 1, tzinfo=timezone.utc)
    return datetime(year, 7, 1, tzinfo=timezone.utc), datetime(year + 1, 1, 1, tzinfo=timezone.utc)


# --- the agenda's figures -----------------------------------------------------------------------------------------

def case_figures(session: Session, start: datetime, end: datetime, now: datetime) -> dict[str, Any]:
    """Overdue dispatches (a report owed before the end of the period, or now, and not made), returned (退单) and
    supervised (督办) cases of the period: how many cases of each, and the worst cases (most of the three)."""
    cutoff = min(end, now)
    overdue = {case_id: n for case_id, n in session.execute(
        select(CaseUnit.case_id, func.count()).where(
            CaseUnit.active.is_(True), CaseUnit.reported.is_(False), CaseUnit.report_by.is_not(None),
            CaseUnit.report_by >= start, CaseUnit.report_by < cutoff).group_by(CaseUnit.case_id))}
    by_kind: dict[str, dict[uuid.UUID, int]] = {"returned": {}, "supervised": {}}
    for case_id, kind, n in session.execute(
            select(CaseEvent.case_id, CaseEvent.kind, func.count()).where(
                CaseEvent.kind.in_(tuple(by_kind)), CaseEvent.deleted_at.is_(None),
                CaseEvent.at >= start, CaseEvent.at < end).group_by(CaseEvent.case_id, CaseEvent.kind)):
        by_kind[str(kind)][case_id] = int(n)
    marks: dict[uuid.UUID, dict[str, int]] = {}
    for name, counts in (("overdue", overdue), *by_kind.items()):
        for case_id, n in counts.items():
            marks.setdefault(case_id, {"overdue": 0, "returned": 0, "supervised": 0})[name] = int(n)
    ranked = sorted(marks.items(), key=lambda kv: (-(kv[1]["supervised"] * 3 + kv[1]["overdue"] * 2 + kv[1]["returned"]),
                                                  str(kv[0])))[:WORST]
    cases = {c.id: c for c in session.scalars(select(Case).where(Case.id.in_([k for k, _ in ranked])))}
    worst = [{"case_id": str(case_id), "number": cases[case_id].number, "title": cases[case_id].title, **m}
             for case_id, m in ranked if case_id in cases]
    return {"overdue": len(overdue), "returned": len(by_kind["returned"]), "supervised": len(by_kind["supervised"]),
            "worst": worst}


def risk_figures(session: Session, start: datetime, end: datetime) -> dict[str, Any]:
    """Risk information of the period: how many by category and by month (the trend)."""
    by_category: dict[str, int] = {}
    by_month: dict[str, int] = {}
    for category, at in session.execute(select(InfoReport.category, InfoReport.created_at).where(
            InfoReport.deleted_at.is_(None), InfoReport.created_at >= start, InfoReport.created_at < end)):
        by_category[category] = by_category.get(category, 0) + 1
        month = f"{at.year}-{at.month:02d}"
        by_month[month] = by_month.get(month, 0) + 1
    return {"total": sum(by_category.values()), "by_category": dict(sorted(by_category.items())),
            "by_month": dict(sorted(by_month.items()))}


def build_agenda(session: Session, kind: str, period: str, now: datetime | None = None) -> list[dict[str, Any]]:
    """The agenda a new meeting starts from; the open resolutions of earlier meetings join it live (carried)."""
    start, end = period_bounds(kind, period)
    now = now or utcnow()
    return [
        {"kind": "report", "title": "通报" + ("本年度" if kind == "annual" else "本半年") + "工作情况"},
        {"kind": "cases", "title": "超期、退单、督办案件", "data": case_figures(session, start, end, now)},
        {"kind": "risks", "title": "风险信息态势", "data": risk_figures(session, start, end)},
        {"kind": "plan", "title": "研究部署下阶段工作"},
    ]


def carried_resolutions(session: Session, meeting: Meeting) -> list[dict[str, Any]]:
    """Every open resolution of the earlier meetings (its task not done): it stays on the agenda until it is."""
    earlier = select(Meeting.id).where(Meeting.id != meeting.id, Meeting.created_at <= meeting.created_at)
    tasks = session.scalars(select(Task).where(
        Task.source == "resolution", Task.status.in_(OPEN_TASK), Task.deleted_at.is_(None),
        Task.meeting_id.in_(earlier)).order_by(Task.due, Task.id)).all()
    return [{"kind": "resolution", "title": t.title, "task_id": str(t.id), "meeting_id": str(t.meeting_id),
             "status": t.status, "due": t.due.isoformat() if t.due else None, **_owner_of(t)} for t in tasks]


def _owner_of(row: Any) -> dict[str, Any]:
    get = row.get if isinstance(row, dict) else lambda name: getattr(row, name)
    user = get("owner_user")
    return {"owner_unit": get("owner_unit"), "owner_node": get("owner_node"),
            "owner_user": str(user) if user is not None else None}


# --- validation -----------------------------------------------------------------------------------------------------

def _text_list(name: str, value: Any) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_ITEMS:
        raise InvalidField(name, N_("At most {max} items"), max=MAX_ITEMS)
    out = []
    for item in value:
        if not isinstance(item, str) or len(item) > 200:
            raise InvalidField(name, N_("At most {max} characters"), max=200)
        if item.strip():
            out.append(item.strip())
    return out


def _agenda(value: Any) -> list[dict[str, Any]]:
    """Agenda items as the office wrote them (a text is an item of its own); carried resolutions are never stored."""
    if not isinstance(value, list) or len(value) > MAX_ITEMS:
        raise InvalidField("agenda", N_("At most {max} items"), max=MAX_ITEMS)
    out = []
    for item in value:
        if isinstance(item, str):
            item = {"kind": "item", "title": item}
        if not isinstance(item, dict) or not isinstance(item.get("title"), str) or len(item["title"]) > 200:
            raise InvalidField("agenda", N_("At most {max} characters"), max=200)
        if item.get("kind") == "resolution" or not item["title"].strip():
            continue
        kept = {"kind": str(item.get("kind") or "item")[:16], "title": item["title"].strip()}
        if isinstance(item.get("data"), dict):
            kept["data"] = item["data"]
        out.append(kept)
    return out


def _resolutions(session: Session, value: Any, before: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each resolution: its text, exactly one owner (a unit, a node or a person that exists) and a due day."""
    if not isinstance(value, list) or len(value) > MAX_ITEMS:
        raise InvalidField("resolutions", N_("At most {max} items"), max=MAX_ITEMS)
    out = []
    for n, item in enumerate(value):
        if not isinstance(item, dict):
            raise InvalidField(f"resolutions.{n}", N_("Not one of the allowed values"))
        text = item.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
            raise InvalidField(f"resolutions.{n}.text", N_("This field is required"))
        owners = {k: item.get(k) for k in ("owner_unit", "owner_node", "owner_user") if item.get(k)}
        if len(owners) != 1:
            raise InvalidField(f"resolutions.{n}.owner", N_("Name exactly one owner: a unit, a node or a person"))
        (key, owner), = owners.items()
        model = {"owner_unit": Unit, "owner_node": Node, "owner_user": User}[key]
        try:
            owner_id: Any = uuid.UUID(str(owner)) if key == "owner_user" else str(owner)
        except ValueError:
            raise InvalidField(f"resolutions.{n}.{key}", N_("Not one of the allowed values")) from None
        found = session.get(model, owner_id)
        if found is None or getattr(found, "deleted_at", None) is not None:
            raise InvalidField(f"resolutions.{n}.{key}", N_("Not one of the allowed values"))
        try:
            due = date.fromisoformat(str(item.get("due")))
        except ValueError:
            raise InvalidField(f"resolutions.{n}.due", N_("Enter a date as YYYY-MM-DD")) from None
        row = {"text": text.strip(), "owner_unit": None, "owner_node": None, "owner_user": None, key: str(owner_id),
               "due": due.isoformat()}
        if n < len(before) and before[n].get("task_id"):
            row["task_id"] = before[n]["task_id"]
        out.append(row)
    return out


def _held_at(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        at = value
    else:
        try:
            at = datetime.fromisoformat(str(value))
        except ValueError:
            raise InvalidField("held_at", N_("Enter a date as YYYY-MM-DD")) from None
    # A time without a zone is Beijing time, as the pages show and take it (common/service.py parse_datetime).
    return at if at.tzinfo else at.replace(tzinfo=ZoneInfo("Asia/Shanghai"))


# --- the meeting's journey ----------------------------------------------------------------------------------------

def create_meeting(session: Session, p: Principal, data: dict[str, Any]) -> Meeting:
    policy.require_office(p)
    kind = data.get("kind")
    if kind not in KINDS:
        raise InvalidField("kind", N_("Not one of the allowed values"))
    held_at = _held_at(data.get("held_at"))
    period = data.get("period") or period_of(kind, (held_at or utcnow()).date())
    period_bounds(kind, period)
    meeting = Meeting(kind=kind, period=period, title=(data.get("title") or "").strip()[:200]
                      or f"{period} {KIND_TITLES[kind]}", held_at=held_at, status="planned", created_by=p.user_id,
                      attendees=_text_list("attendees", data.get("attendees") or []),
                      agenda=_agenda(data["agenda"]) if data.get("agenda") else build_agenda(session, kind, period),
                      minutes=str(data.get("minutes") or "")[:50_000])
    meeting.resolutions = _resolutions(session, data.get("resolutions") or [], [])
    session.add(meeting)
    session.flush()
    audit_write(session, p, "create", "meeting", meeting.id, {"kind": kind, "period": period})
    if data.get("status") and data["status"] != "planned":
        move(session, p, meeting, data["status"])
    return meeting


def plan_meeting(session: Session, kind: str, period: str) -> tuple[Meeting, bool]:
    """The period's meeting as the cycle plans it once its half year (or year) has ended: planned, with the agenda
    built from that period; and whether it was planned now. One a person made for the period already is kept."""
    period_bounds(kind, period)
    meeting = session.scalars(select(Meeting).where(Meeting.kind == kind, Meeting.period == period,
                                                    Meeting.deleted_at.is_(None))).first()
    if meeting is not None:
        return meeting, False
    meeting = Meeting(kind=kind, period=period, title=f"{period} {KIND_TITLES[kind]}", status="planned",
                      attendees=[], agenda=build_agenda(session, kind, period), minutes="", resolutions=[])
    session.add(meeting)
    session.flush()
    from common.cases.service import SYSTEM

    audit_write(session, SYSTEM, "create", "meeting", meeting.id, {"kind": kind, "period": period, "planned": True})
    return meeting, True


def get_meeting(session: Session, p: Principal, meeting_id: uuid.UUID) -> Meeting:
    policy.require_office(p)
    meeting = session.get(Meeting, meeting_id)
    if meeting is None or meeting.deleted_at is not None:
        raise NotFound()
    return meeting


def update_meeting(session: Session, p: Principal, meeting_id: uuid.UUID, data: dict[str, Any]) -> Meeting:
    meeting = get_meeting(session, p, meeting_id)
    if "title" in data:
        title = str(data["title"] or "").strip()
        if not title or len(title) > 200:
            raise InvalidField("title", N_("This field is required"))
        meeting.title = title
    if "held_at" in data:
        meeting.held_at = _held_at(data["held_at"])
    if "attendees" in data:
        meeting.attendees = _text_list("attendees", data["attendees"] or [])
    if "agenda" in data:
        meeting.agenda = _agenda(data["agenda"] or [])
    if "minutes" in data:
        meeting.minutes = str(data["minutes"] or "")[:50_000]
    if "resolutions" in data:
        resolutions = _resolutions(session, data["resolutions"] or [], meeting.resolutions)
        if meeting.status != "planned" and resolutions != meeting.resolutions:
            raise Conflict(N_("The resolutions of a held meeting are its tasks now: change those instead."))
        meeting.resolutions = resolutions
    changed = sorted(name for name in data if name != "status")
    if changed:
        audit_write(session, p, "update", "meeting", meeting.id, {"changed": changed})
    if data.get("status") and data["status"] != meeting.status:
        move(session, p, meeting, data["status"])
    return meeting


def move(session: Session, p: Principal, meeting: Meeting, status: str) -> None:
    """planned → held (its resolutions become tasks, their owners are told) → closed."""
    if status not in STATUSES:
        raise InvalidField("status", N_("Not one of the allowed values"))
    if status == meeting.status:
        return
    if (meeting.status, status) not in MOVES:
        raise Conflict(N_("This meeting cannot go from {before} to {after}."), before=meeting.status, after=status)
    if status == "held":
        if meeting.held_at is None:
            meeting.held_at = utcnow()
        assign_resolutions(session, p, meeting)
    meeting.status = status
    audit_write(session, p, f"meeting.{status}", "meeting", meeting.id,
                {"tasks": [r.get("task_id") for r in meeting.resolutions]} if status == "held" else None)


def _task_node(session: Session, row: dict[str, Any]) -> str:
    if row.get("owner_node"):
        return str(row["owner_node"])
    if row.get("owner_user"):
        user = session.get(User, uuid.UUID(str(row["owner_user"])))
        return user.node_id if user is not None and user.node_id else "hub"
    return "hub"


def assign_resolutions(session: Session, p: Principal, meeting: Meeting) -> list[Task]:
    """Each resolution becomes one task (once, however often this runs: its key is the meeting and its place)."""
    made = []
    resolutions = [dict(r) for r in meeting.resolutions]
    for n, row in enumerate(resolutions):
        key = f"meeting:{meeting.id}:{n}"
        task = session.scalars(select(Task).where(Task.cycle_key == key)).first()
        if task is None:
            owner_user = uuid.UUID(str(row["owner_user"])) if row.get("owner_user") else None
            task = Task(title=row["text"][:200], body=f"{meeting.title}决议：{row['text']}", owner_unit=row.get("owner_unit"),
                        owner_node=row.get("owner_node"), owner_user=owner_user, due=date.fromisoformat(row["due"]),
                        source="resolution", status="open", created_by=p.user_id, meeting_id=meeting.id,
                        period=meeting.period, cycle_key=key, node_id=_task_node(session, row))
            session.add(task)
            session.flush()
            made.append(task)
            audience = Audience(units=(row["owner_unit"],) if row.get("owner_unit") else (),
                                nodes=(row["owner_node"],) if row.get("owner_node") else (),
                                users=(owner_user,) if owner_user else ())
            notify(session, f"meeting:{meeting.id}:resolution:{n}",
                   Notice(kind="task.assigned", title=f"会议决议任务：{task.title}",
                          body=f"{meeting.title}决议：{row['text']}\n完成期限：{row['due']}", link="/tasks",
                          entity_type="task", entity_id=task.id), audience)
        row["task_id"] = str(task.id)
    meeting.resolutions = resolutions
    return made


def resolution_tasks(session: Session, meeting: Meeting) -> list[Task]:
    return list(session.scalars(select(Task).where(Task.meeting_id == meeting.id, Task.source == "resolution",
                                                   Task.deleted_at.is_(None)).order_by(Task.cycle_key)))


def meetings(p: Principal) -> Any:
    policy.require_office(p)
    return select(Meeting).where(Meeting.deleted_at.is_(None)).order_by(Meeting.created_at.desc(), Meeting.id.desc())


def meeting_out(session: Session, meeting: Meeting) -> dict[str, Any]:
    """The meeting as the API shows it: its agenda with the open resolutions of earlier meetings, live."""
    tasks = {str(t.id): t for t in resolution_tasks(session, meeting)}
    return {
        "id": str(meeting.id), "kind": meeting.kind, "period": meeting.period, "title": meeting.title,
        "held_at": meeting.held_at.isoformat() if meeting.held_at else None, "attendees": meeting.attendees,
        "agenda": [*meeting.agenda, *carried_resolutions(session, meeting)], "minutes": meeting.minutes,
        "resolutions": [{**r, "task_status": tasks[r["task_id"]].status if r.get("task_id") in tasks else None}
                        for r in meeting.resolutions],
        "status": meeting.status, "created_at": meeting.created_at.isoformat(),
    }
