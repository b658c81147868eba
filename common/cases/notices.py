"""Who is told of what happens on a case (Art. 18, 19), written with the event in its transaction: a dispatch to the
unit's liaison officers, a return and a report back to the office, 催办 to the unit and the office, 督办 to the unit's
leadership and the office, the emergency plan to the leaders and every unit on the case at once, a joint working
group request to the leaders, an extension to whoever decides or asked, and a change of an enterprise's own
request to the person who raised it. Also the reminder before a deadline (the escalation job's, no event).

Texts are in Chinese; group messages (WeCom robots) carry the case's number, title, urgency and deadline and never
a person's name, phone or ID number."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from common import i18n
from common.i18n import N_
from common.cases import clock as case_clock
from common.cases.deadlines import BEIJING, parse_time
from common.cases.vocabulary import STATUS_LABELS, Status
from common.cases.vocabulary import EventKind as K
from common.models import Case, CaseEvent, Unit, User
from common.notify.service import Audience, Notice, notify
from common.policy import Principal
from common.reference import URGENCIES

ZH = "zh_Hans"


def zh(msgid: str, **params: Any) -> str:
    """A msgid in Chinese, whatever language the request runs in: notices are kept as written."""
    text = i18n.translate(msgid, ZH)
    return text.format(**params) if params else text


def when(moment: datetime | None) -> str:
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M") if moment is not None else "—"


def _unit_name(session: Session, unit_id: str | None) -> str:
    unit = session.get(Unit, unit_id) if unit_id else None
    return unit.name if unit is not None else (unit_id or "")


def case_notice(case: Case, kind: str, headline: str, lines: list[tuple[str, str]], *, urgent: bool = False,
                group: bool = True) -> Notice:
    """A notice about a case: its number, title, urgency and the lines given (deadlines, unit), with its link."""
    urgency = zh(URGENCIES.get(case.urgency, URGENCIES["routine"]))
    facts = [(zh(N_("Case number")), case.number), (zh(N_("Title")), case.title), (zh(N_("Urgency")), urgency), *lines]
    body = "\n".join(f"{label}：{value}" for label, value in facts)
    group_text = None
    if group:
        group_text = f"**{headline}**\n" + "\n".join(f"> {label}：{value}" for label, value in facts)
    return Notice(kind=kind, title=f"{headline}：{case.number} {case.title}"[:300], body=body, link=f"/cases/{case.id}",
                  entity_type="case", entity_id=case.id, urgent=urgent or case.urgency in ("major", "mass_incident"),
                  group_text=group_text)


def _deadline_lines(clock: case_clock.UnitClock | None, sign: bool = True) -> list[tuple[str, str]]:
    if clock is None:
        return []
    lines = [(zh(N_("Sign-for deadline")), when(clock.sign.due))] if sign else []
    return [*lines, (zh(N_("Report-back deadline")), when(clock.resolve.due))]


def event_notices(session: Session, case: Case, event: CaseEvent, p: Principal, status_before: str,
                  events: list[CaseEvent]) -> None:
    """Tell whom the event concerns (`events`: the case's timeline with it). Keyed by the event, so telling it again
    tells no one twice."""
    key = f"case:{case.id}:{event.id}"
    kind = str(event.kind)
    exclude = (p.user_id,) if p.user_id else ()
    unit = event.unit

    def unit_clock() -> case_clock.UnitClock | None:
        return case_clock.unit_clock(unit or "", case.urgency, events, event.at)

    unit_line = [(zh(N_("Unit")), _unit_name(session, unit))] if unit else []
    if kind == K.DISPATCHED:
        notify(session, key, case_notice(case, "case.dispatched", zh(N_("New case dispatched to your unit")),
                                         [*unit_line, *_deadline_lines(unit_clock())]),
               Audience(units=(unit,), exclude=exclude))
    elif kind == K.RETURNED:
        notify(session, key, case_notice(case, "case.returned", zh(N_("A unit returned a case")), unit_line),
               Audience(office=True, exclude=exclude))
    elif kind == K.REPORTED:
        notify(session, key, case_notice(case, "case.reported", zh(N_("A unit reported back")), unit_line),
               Audience(office=True, exclude=exclude))
    elif kind == K.URGED:
        clock = unit_clock()
        notify(session, key, case_notice(case, "case.urged", zh(N_("Urged: a deadline has passed")),
                                         [*unit_line, *_escalated_lines(event, clock)]),
               Audience(units=(unit,), office=True, exclude=exclude))
    elif kind == K.SUPERVISED:
        clock = unit_clock()
        notify(session, key, case_notice(case, "case.supervised", zh(N_("Supervision notice (督办)")),
                                         [*unit_line, *_escalated_lines(event, clock)], urgent=True),
               Audience(unit_leaders=(unit,), office=True, exclude=exclude))
    elif kind == K.ESCALATED:
        from sqlalchemy import select

        from common.models import CaseUnit

        units = tuple(session.scalars(select(CaseUnit.unit_id).where(CaseUnit.case_id == case.id,
                                                                     CaseUnit.active.is_(True))))
        notify(session, key, case_notice(case, "case.escalated", zh(N_("Emergency plan started")), [], urgent=True),
               Audience(leaders=True, units=units, exclude=exclude))
    elif kind == K.JWG_REQUESTED:
        notify(session, key, case_notice(case, "case.jwg_requested", zh(N_("A joint working group awaits your decision")),
                                         [], urgent=True),
               Audience(leaders=True, exclude=exclude))
    elif kind == K.EXTENSION_REQUESTED:
        until = parse_time((event.details or {}).get("until"))
        notify(session, key, case_notice(case, "case.extension_requested", zh(N_("A unit asks for more time")),
                                         [*unit_line, (zh(N_("New report-back date asked for")), when(until))]),
               Audience(office=True, exclude=exclude))
    elif kind in (K.EXTENSION_APPROVED, K.EXTENSION_REJECTED):
        approved = kind == K.EXTENSION_APPROVED
        headline = zh(N_("More time granted")) if approved else zh(N_("More time refused"))
        notify(session, key, case_notice(case, f"case.{kind}", headline, [*unit_line, *_deadline_lines(unit_clock(), sign=False)]),
               Audience(units=(unit,), exclude=exclude))
    if case.status != status_before:
        _tell_raiser(session, case, key, exclude)


def _escalated_lines(event: CaseEvent, clock: case_clock.UnitClock | None) -> list[tuple[str, str]]:
    details = event.details or {}
    which = details.get("deadline")
    due = parse_time(details.get("due"))
    if which and due is not None:
        label = zh(N_("Sign-for deadline")) if which == "sign" else zh(N_("Report-back deadline"))
        return [(label, when(due))]
    return _deadline_lines(clock)


def _tell_raiser(session: Session, case: Case, key: str, exclude: tuple[Any, ...]) -> None:
    """An enterprise's own request changed status: the person who raised it hears (not in any group)."""
    raiser = session.get(User, case.reported_by) if case.reported_by else None
    if raiser is None or raiser.role != "enterprise" or raiser.id in exclude:
        return
    status = zh(STATUS_LABELS.get(Status(case.status), case.status)) if case.status in Status._value2member_map_ \
        else case.status
    notice = case_notice(case, "case.status", zh(N_("Your request has a new status")), [(zh(N_("Status")), status)],
                         group=False)
    notify(session, f"{key}:status", notice, Audience(users=(raiser.id,)), channels=("inbox", "email"))


def remind(session: Session, case: Case, unit: str, which: str, due: datetime) -> None:
    """Before a deadline: the unit's liaison officers are reminded (no event on the timeline)."""
    label = zh(N_("Sign-for deadline")) if which == "sign" else zh(N_("Report-back deadline"))
    notice = case_notice(case, "case.reminder", zh(N_("A deadline is near")),
                         [(zh(N_("Unit")), _unit_name(session, unit)), (label, when(due))])
    notify(session, f"case:{case.id}:remind:{unit}:{which}:{due.isoformat()}", notice, Audience(units=(unit,)))
