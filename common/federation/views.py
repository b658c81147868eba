"""What the application pages show, gathered from the federation service: list rows, the form, one application."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import segno
from markupsafe import Markup
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from common import i18n, policy
from common.i18n import N_
from common.models import Attachment, Enterprise, Node, NodeApplication, User
from common.policy import Principal
from common.reference import NODE_KINDS, NODE_STATUSES
from common.federation import service as federation
from common.federation.names import node_names
from common.roster.picker import enterprise_picker

LIST_PAGE = 30
FORM_FIELDS = ("kind", "name", "region_code", "parent_node", "host_enterprise_id", "head_name", "head_phone",
               "reason", "background", "target_node")
NEW_KINDS = ("subcenter", "workstation")
# What each entry of the audit trail means in an application's history.
# The case statuses' "Submitted" reads 待受理; an application waits for review instead.
STATUS_LABELS = {"submitted": N_("Awaiting review"), "returned": N_("Returned for changes"), "approved": N_("Approved"),
                 "rejected": N_("Rejected")}
HISTORY_LABELS = {"create": N_("Application submitted"), "update": N_("Edited"), "resubmit": N_("Edited and resubmitted"),
                  "application.approve": N_("Approved"), "application.reject": N_("Rejected"),
                  "application.return": N_("Returned for changes"), "application.comment": N_("Review comment")}
DECISION_OF_STATUS = {"approved": "application.approve", "rejected": "application.reject",
                      "returned": "application.return"}
FIELD_LABELS = {"name": N_("Proposed name"), "region_code": N_("Region"), "parent_node": N_("Parent node"),
                "host_enterprise_id": N_("Host enterprise"), "head_name": N_("Proposed head"),
                "head_phone": N_("Head's mobile phone"), "reason": N_("Reasons"), "background": N_("Background"),
                "status": N_("Status")}
ENROLLMENT_STATES = {"valid": N_("Valid, not used yet"), "used": N_("Used"), "expired": N_("Expired or replaced")}


# ── The list ──────────────────────────────────────────────────────────────────────────────────────────────────

def list_context(session: Session, p: Principal, filters: dict[str, str], offset: int) -> dict[str, Any]:
    stmt = policy.scoped(NodeApplication, p)
    if filters.get("status"):
        stmt = stmt.where(NodeApplication.status == filters["status"])
    if filters.get("kind"):
        stmt = stmt.where(NodeApplication.kind == filters["kind"])
    if filters.get("q"):
        term = filters["q"]
        stmt = stmt.where(or_(NodeApplication.name.contains(term, autoescape=True),
                              NodeApplication.head_name.contains(term, autoescape=True)))
    # Waiting ones first for the office's review, then newest first.
    waiting = NodeApplication.status.in_(["submitted"])
    found = list(session.scalars(stmt.order_by(waiting.desc(), NodeApplication.created_at.desc(), NodeApplication.id)
                                 .limit(LIST_PAGE + 1).offset(offset)))
    rows = found[:LIST_PAGE]
    return {"rows": [federation.application_out(a, p) for a in rows], "has_more": len(found) > LIST_PAGE,
            "offset": offset, "page_size": LIST_PAGE, "filters": filters, "node_names": node_names(session),
            **labels()}


def labels() -> dict[str, Any]:
    return {"kinds": federation.APPLICATION_KINDS, "statuses": STATUS_LABELS, "node_kinds": NODE_KINDS,
            "node_statuses": NODE_STATUSES, "field_labels": FIELD_LABELS, "history_labels": HISTORY_LABELS,
            "enrollment_states": ENROLLMENT_STATES}


# ── The form (new and edit) ───────────────────────────────────────────────────────────────────────────────────

def form_context(session: Session, p: Principal, values: dict[str, Any], errors: dict[str, str],
                 application: NodeApplication | None = None, q: str = "") -> dict[str, Any]:
    kind = values.get("kind") or "subcenter"
    return {"values": values, "errors": errors, "kind": kind, "application": application,
            "new_node": kind in NEW_KINDS, "parents": parent_choices(session, p, kind),
            "targets": target_choices(session, p) if application is None else [],
            "host_picker": enterprise_picker(session, p, session.get_bind().dialect.name, "host_enterprise_id", q,
                                             values.get("host_enterprise_id"), required=True,
                                             keep={"kind": kind} if application is None else {}),
            "kind_choices": _kind_choices(p), **labels()}


def _kind_choices(p: Principal) -> dict[str, str]:
    """A workstation's head asks about its own node or proposes a workstation; no one below the office proposes
    a sub-center but a sub-center's head (Art. 20: the office recommends and reviews them)."""
    kinds = dict(federation.APPLICATION_KINDS)
    if p.role == "enterprise":
        kinds.pop("subcenter")
    return kinds


def default_values(session: Session, p: Principal, kind: str, target: str) -> dict[str, Any]:
    """A new form: the kind asked for, the applicant's own node (or its parent) as the parent of a new one."""
    kind = kind if kind in federation.APPLICATION_KINDS else ("subcenter" if p.is_office else "workstation")
    values: dict[str, Any] = {f: "" for f in FORM_FIELDS}
    values.update(kind=kind, target_node=target)
    wanted = federation.PARENT_KIND.get(kind)
    own = session.get(Node, p.node_id)
    parent = own if own is not None and own.kind == wanted else None
    if parent is None and own is not None and own.parent_id:
        parent = session.get(Node, own.parent_id)
    if wanted and parent is not None and parent.kind == wanted:
        values["parent_node"] = parent.id
        if kind == "workstation":
            values["region_code"] = parent.region_code
    return values


def parent_choices(session: Session, p: Principal, kind: str) -> list[Node]:
    wanted = federation.PARENT_KIND.get(kind, "subcenter")
    return list(session.scalars(policy.scoped(Node, p).where(Node.kind == wanted, Node.status == "active")
                                .order_by(Node.path)))


def target_choices(session: Session, p: Principal) -> list[Node]:
    """Nodes a request may be about: any for the office, the applicant's own subtree otherwise; never the hub."""
    stmt = policy.scoped(Node, p).where(Node.kind != "hub")
    if not p.is_office:
        stmt = stmt.where(Node.id.in_(sorted(p.subtree)))
    return list(session.scalars(stmt.order_by(Node.path)))


def values_of(application: NodeApplication, p: Principal) -> dict[str, Any]:
    """The edit form prefilled as the API shows it (the head's phone masked where the role does not see it)."""
    out = federation.application_out(application, p)
    values = {f: out.get(f) or "" for f in FORM_FIELDS}
    values["target_node"] = application.created_node or ""
    return values


# ── One application ───────────────────────────────────────────────────────────────────────────────────────────

def detail_context(session: Session, p: Principal, application: NodeApplication, at_hub: bool,
                   now: datetime) -> dict[str, Any]:
    out = federation.application_out(application, p)
    concerned = session.get(Node, application.created_node) if application.created_node else None
    new_node = application.kind in NEW_KINDS
    return {
        "a": application, "out": out, "new_node": new_node, "concerned": concerned, "node_names": node_names(session),
        "host": session.get(Enterprise, application.host_enterprise_id) if application.host_enterprise_id else None,
        "attachments": list(session.scalars(policy.scoped(Attachment, p).where(
            Attachment.entity_type == "application", Attachment.entity_id == application.id))),
        "history": history_rows(session, application, at_hub),
        "enrollment": federation.latest_enrollment(session, concerned.id, now) if concerned and new_node and at_hub else None,
        "can_decide": p.is_office and at_hub and application.status == "submitted",
        "can_comment": p.is_office and at_hub,
        "can_issue": p.is_office and at_hub and new_node and concerned is not None and concerned.status == "active",
        "can_edit": _can_edit(p, application), "at_hub": at_hub,
        "fresh_code": None, "qr": None, "error_text": "", "errors": {}, "failed": {}, **labels(),
    }


def _can_edit(p: Principal, application: NodeApplication) -> bool:
    if application.status not in ("submitted", "returned"):
        return False
    try:
        policy.require_write(p, "application", "update", application.node_id)
    except Exception:  # noqa: BLE001 - a refusal only hides the button; the handler refuses again
        return False
    return True


def history_rows(session: Session, application: NodeApplication, at_hub: bool) -> list[dict[str, Any]]:
    """The audit trail of the application; at a spoke, the office's latest decision comes with the synced row."""
    entries = federation.application_history(session, application)
    names = _display_names(session, [e.actor_id for e in entries if e.actor_id])
    rows = [_history_row(e, names) for e in entries]
    decision = DECISION_OF_STATUS.get(application.status)
    if not at_hub and decision and application.decided_at and not any(r["action"] == decision for r in rows):
        rows.append({"action": decision, "at": application.decided_at, "who": i18n.gettext(N_("Center office")),
                     "where": "hub", "comment": application.decision_comment, "fields": []})
    return rows


def _history_row(entry: Any, names: dict[Any, str]) -> dict[str, Any]:
    detail = entry.detail or {}
    changed = detail.get("changed") or {}
    action = entry.action
    if action == "update" and changed.get("status") == ["returned", "submitted"]:
        action = "resubmit"
    return {"action": action, "at": entry.at, "who": names.get(entry.actor_id) or entry.actor, "where": entry.node_id,
            "comment": detail.get("comment") or "", "fields": [k for k in changed if k != "status"]}


def _display_names(session: Session, ids: list[Any]) -> dict[Any, str]:
    if not ids:
        return {}
    return {u.id: u.display_name or u.username for u in session.scalars(select(User).where(User.id.in_(set(ids))))}


def qr_svg(code: str) -> Markup:
    """The code as a QR image drawn on the server: no script, works offline and prints sharp."""
    svg = segno.make(code, error="m").svg_inline(scale=6, border=2, dark="#000", light="#fff", omitsize=True)
    return Markup(svg)  # noqa: S704 - segno's own SVG from our code text, nothing the user typed
