"""What the home page shows each role first, each item with the page that handles it.

The office: open cases, overdue sign-fors, emergencies, applications, unacknowledged warnings, every node's sync.
A sub-center: its visit plan, open cases, warnings. A workstation: its requests, warnings. A liaison: its unit's
queue. `now` is the app's clock, so overdue means here what it means on the case page.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, exists, func, not_, or_, select
from sqlalchemy.orm import Session, aliased

from common import policy
from common.cases.vocabulary import EventKind
from common.models import (
    Bulletin,
    BulletinAck,
    BulletinAudience,
    Case,
    CaseEvent,
    CaseUnit,
    Enterprise,
    Node,
    NodeApplication,
    SyncPeer,
    utcnow,
)
from common.policy import Principal
from common.reference import URGENCIES
from common.cases import service as cases
from common.center import settings
from common.visits import plan as visit_plan
from common.visits.reference import CADENCE_KEY
from common.cases.views import OPEN_STATUSES, STATUS_FILTER, unit_names

PLAN_ON_HOME = 10
CASES_ON_HOME = 10
LIST_ON_HOME = 10
CLOCK_KINDS = (EventKind.DISPATCHED.value, EventKind.SIGNED.value, EventKind.REPORTED.value)


def dashboard_context(session: Session, p: Principal, now: datetime | None = None, spokes: bool = True) -> dict[str, Any]:
    """The sections of `p`'s role; every query starts from the policy's scope."""
    return {"status_labels": STATUS_FILTER, **_sections(session, p, now or utcnow(), spokes)}


def _sections(session: Session, p: Principal, now: datetime, spokes: bool) -> dict[str, Any]:
    if p.role == "office":
        return office_context(session, p, now, spokes)
    if p.role == "subcenter":
        return subcenter_context(session, p, now)
    if p.role == "liaison":
        return {"section": "liaison", "queue": unit_queue(session, p, now)}
    if p.role == "enterprise":
        return {"section": "enterprise", "requests": my_requests(session, p), "warnings": new_warnings(session, p)}
    return {"section": p.role}


# ── The office ────────────────────────────────────────────────────────────────────────────────────────────────

def office_context(session: Session, p: Principal, now: datetime, spokes: bool) -> dict[str, Any]:
    return {
        "section": "office", "by_urgency": open_by_urgency(session, p), "overdue_signs": overdue_sign_fors(session, p, now),
        "emergencies": open_emergencies(session, p), "applications": pending_applications(session, p),
        "warnings": unacknowledged_warnings(session, p),
        "sync": sync_health(session, now) if spokes else None,
    }


def open_by_urgency(session: Session, p: Principal) -> dict[str, Any]:
    """Open cases per urgency, every urgency listed (a zero is news too), most urgent first."""
    stmt = (policy.scoped(Case, p).where(Case.status.in_(OPEN_STATUSES))
            .with_only_columns(Case.urgency, func.count()).group_by(Case.urgency))
    counts = dict(session.execute(stmt).all())
    rows = [{"urgency": u, "count": counts.get(u, 0)} for u in reversed(list(URGENCIES))]
    return {"rows": rows, "total": sum(counts.values())}


def _count(session: Session, stmt: Any) -> int:
    return session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0


def _clock_events(session: Session, case_ids: list[Any]) -> dict[Any, list[CaseEvent]]:
    """The steps that time a unit (dispatch, sign-for, report back) of these cases, in timeline order."""
    out: dict[Any, list[CaseEvent]] = {}
    if case_ids:
        for e in session.scalars(select(CaseEvent).where(CaseEvent.case_id.in_(case_ids), CaseEvent.deleted_at.is_(None),
                                                         CaseEvent.kind.in_(CLOCK_KINDS)).order_by(CaseEvent.at, CaseEvent.id)):
            out.setdefault(e.case_id, []).append(e)
    return out


def _unit_rows(session: Session, pairs: list[tuple[Case, CaseUnit]], now: datetime) -> list[dict[str, Any]]:
    """Each (case, unit) with its sign-for and report-back timers, as the case page's clock works them out."""
    events = _clock_events(session, list({c.id for c, _ in pairs}))
    names = unit_names(session)
    rows = []
    for case, assignment in pairs:
        clock = cases.case_clock(case, events.get(case.id, []), [assignment.unit_id], now)
        unit_clock = next((u for u in clock.units if u.unit == assignment.unit_id), None)
        if unit_clock is not None:
            rows.append({"case": case, "unit": assignment.unit_id, "unit_name": names.get(assignment.unit_id, assignment.unit_id),
                         "signed": assignment.signed, "sign": unit_clock.sign, "resolve": unit_clock.resolve})
    return rows


def _open_assignments(session: Session, p: Principal, assignment: Any, stmt: Any) -> list[tuple[Case, CaseUnit]]:
    """The (case, unit) pairs `stmt` picks among the open cases `p` may see.

    `assignment` is an alias of CaseUnit: a liaison's scope is itself a CaseUnit condition, which must not be
    correlated with the rows picked here.
    """
    open_ids = policy.scoped(Case, p).where(Case.status.in_(OPEN_STATUSES)).with_only_columns(Case.id)
    picked = list(session.scalars(stmt.where(assignment.case_id.in_(open_ids))))
    by_id = {c.id: c for c in session.scalars(select(Case).where(Case.id.in_({a.case_id for a in picked})))} if picked else {}
    return [(by_id[a.case_id], a) for a in picked if a.case_id in by_id]


def overdue_sign_fors(session: Session, p: Principal, now: datetime, limit: int = LIST_ON_HOME) -> dict[str, Any]:
    """Units dispatched to an open case that have not signed for it within the sign-for deadline, oldest due first."""
    # Each dispatch keeps its sign-for deadline (`sign_by`, set from the same timeline the case page's clock reads):
    # the overdue are counted and the oldest picked in SQL, and only the rows shown get their clocks worked out. A
    # dispatch with no deadline kept yet (made before deadlines were kept) has its clock worked out instead.
    assignment = aliased(CaseUnit)
    waiting = select(assignment).where(assignment.active.is_(True), assignment.signed.is_(False))
    open_ids = policy.scoped(Case, p).where(Case.status.in_(OPEN_STATUSES)).with_only_columns(Case.id)
    late = waiting.where(assignment.sign_by < now, assignment.case_id.in_(open_ids))
    total = _count(session, late)
    oldest = late.order_by(assignment.sign_by, assignment.case_id, assignment.unit_id).limit(limit)
    unkept = waiting.where(assignment.sign_by.is_(None))
    rows = [r for r in _unit_rows(session, _open_assignments(session, p, assignment, oldest), now) if r["sign"].overdue]
    unkept_rows = [r for r in _unit_rows(session, _open_assignments(session, p, assignment, unkept), now)
                   if r["sign"].overdue]
    rows = sorted([*rows, *unkept_rows], key=lambda r: r["sign"].due)
    return {"rows": rows[:limit], "total": total + len(unkept_rows)}


def open_emergencies(session: Session, p: Principal, limit: int = LIST_ON_HOME) -> dict[str, Any]:
    """Cases running under the emergency plan (Art. 18(2)) and not yet settled."""
    stmt = policy.scoped(Case, p).where(Case.emergency.is_(True), Case.status.in_(OPEN_STATUSES))
    rows = session.scalars(stmt.order_by(Case.created_at, Case.id).limit(limit)).all()
    return {"rows": list(rows), "total": _count(session, stmt)}


def pending_applications(session: Session, p: Principal, limit: int = LIST_ON_HOME) -> dict[str, Any]:
    """Applications for a new sub-center or workstation waiting for the office's decision, oldest first."""
    stmt = policy.scoped(NodeApplication, p).where(NodeApplication.status == "submitted")
    rows = session.scalars(stmt.order_by(NodeApplication.created_at, NodeApplication.id).limit(limit)).all()
    return {"rows": list(rows), "total": _count(session, stmt)}


def _targets(bulletin: Any) -> Any:
    """Whether a node is one a bulletin must reach: an active spoke, and the bulletin is for all or names it."""
    # Correlated by hand: the bulletin is two queries out, beyond what automatic correlation reaches.
    addressed = exists().where(BulletinAudience.bulletin_id == bulletin.id, BulletinAudience.node_id == Node.id)\
        .correlate(Bulletin, Node)
    return and_(Node.kind != "hub", Node.status != "retired", or_(bulletin.for_all.is_(True), addressed))


def _acked(bulletin_id: Any, node_id: Any) -> Any:
    return exists().where(BulletinAck.bulletin_id == bulletin_id, BulletinAck.node_id == node_id,
                          BulletinAck.deleted_at.is_(None)).correlate(Bulletin, Node)


def unacknowledged_warnings(session: Session, p: Principal, limit: int = LIST_ON_HOME) -> dict[str, Any]:
    """Published warnings that some node they reach has not acknowledged, newest first, with how many have."""
    missing = exists(select(Node.id).where(_targets(Bulletin), not_(_acked(Bulletin.id, Node.id))))
    stmt = policy.scoped(Bulletin, p).where(Bulletin.kind == "warning", Bulletin.published_at.is_not(None), missing)
    rows = list(session.scalars(stmt.order_by(Bulletin.published_at.desc(), Bulletin.id).limit(limit)))
    return {"rows": [{"bulletin": b, **_ack_counts(session, b)} for b in rows], "total": _count(session, stmt)}


def _ack_counts(session: Session, bulletin: Bulletin) -> dict[str, int]:
    """How many nodes the warning must reach, and how many of those have acknowledged it."""
    targets = select(Node.id).where(Node.kind != "hub", Node.status != "retired")
    if not bulletin.for_all:
        targets = targets.where(Node.id.in_(select(BulletinAudience.node_id).where(BulletinAudience.bulletin_id == bulletin.id)))
    target_ids = set(session.scalars(targets))
    acked = set(session.scalars(select(BulletinAck.node_id).where(BulletinAck.bulletin_id == bulletin.id,
                                                                  BulletinAck.deleted_at.is_(None))))
    return {"targets": len(target_ids), "acked": len(target_ids & acked)}


def sync_health(session: Session, now: datetime) -> list[dict[str, Any]]:
    """Every spoke's last success, lag, queued changes, digest check and last error, as reported to the hub."""
    nodes = session.scalars(select(Node).where(Node.kind != "hub").order_by(Node.path)).all()
    peers = {peer.node_id: peer for peer in session.scalars(select(SyncPeer))}
    rows = []
    for node in nodes:
        peer = peers.get(node.id)
        success = peer.last_success_at if peer else None
        failing = bool(peer and peer.last_error_at and (success is None or _aware(peer.last_error_at) > _aware(success)))
        rows.append({"node": node, "peer": peer, "failing": failing,
                     "since_success": max(0.0, (now - _aware(success)).total_seconds()) if success else None})
    return rows


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# ── Sub-centers, workstations, liaisons ───────────────────────────────────────────────────────────────────────

def subcenter_context(session: Session, p: Principal, now: datetime) -> dict[str, Any]:
    due, due_total = visit_plan.overdue(session, p, limit=PLAN_ON_HOME, now=now)
    open_rows, cases_total = visit_plan.open_cases(session, p, limit=CASES_ON_HOME)
    return {"section": "subcenter", "due": due, "due_total": due_total, "cadence": settings.get(session, CADENCE_KEY),
            "cases": open_rows, "cases_total": cases_total, "case_enterprises": enterprise_names(session, open_rows),
            "warnings": new_warnings(session, p)}


def enterprise_names(session: Session, rows: list[Case]) -> dict[Any, str]:
    ids = {c.enterprise_id for c in rows if c.enterprise_id}
    return dict(session.execute(select(Enterprise.id, Enterprise.name).where(Enterprise.id.in_(ids))).all()) if ids else {}


def new_warnings(session: Session, p: Principal, limit: int = LIST_ON_HOME) -> dict[str, Any]:
    """Warnings addressed to `p`'s own node (or to all) that its node has not acknowledged yet, newest first."""
    to_node = exists().where(BulletinAudience.bulletin_id == Bulletin.id, BulletinAudience.node_id == p.node_id)
    stmt = policy.scoped(Bulletin, p).where(Bulletin.kind == "warning", Bulletin.published_at.is_not(None),
                                            or_(Bulletin.for_all.is_(True), to_node), not_(_acked(Bulletin.id, p.node_id)))
    rows = session.scalars(stmt.order_by(Bulletin.published_at.desc(), Bulletin.id).limit(limit)).all()
    return {"rows": list(rows), "total": _count(session, stmt)}


def my_requests(session: Session, p: Principal, limit: int = CASES_ON_HOME) -> dict[str, Any]:
    """The requests a workstation raised: how many in each status, and the open ones newest first."""
    counts = dict(session.execute(policy.scoped(Case, p).with_only_columns(Case.status, func.count())
                                  .group_by(Case.status)).all())
    open_rows, open_total = visit_plan.open_cases(session, p, limit=limit)
    return {"by_status": counts, "rows": open_rows, "open_total": open_total, "total": sum(counts.values()),
            "enterprises": enterprise_names(session, open_rows)}


def unit_queue(session: Session, p: Principal, now: datetime, limit: int = 20) -> dict[str, Any]:
    """The liaison's unit's open cases not yet reported back: overdue first, then by the next deadline."""
    assignment = aliased(CaseUnit)
    stmt = select(assignment).where(assignment.unit_id == p.unit_id, assignment.active.is_(True), assignment.reported.is_(False))
    rows = _unit_rows(session, _open_assignments(session, p, assignment, stmt), now)
    for row in rows:
        pending = row["resolve"] if row["signed"] else row["sign"]
        row["next"] = pending
        row["overdue"] = row["sign"].overdue or row["resolve"].overdue
    rows.sort(key=lambda r: (not r["overdue"], r["next"].due))
    return {"rows": rows[:limit], "total": len(rows), "overdue": sum(1 for r in rows if r["overdue"]),
            "unsigned": sum(1 for r in rows if not r["signed"]), "unit_name": unit_names(session).get(p.unit_id or "", "")}
