"""The node tree and applications to grow it: sub-centers and workstations (Art. 11, 17(10), 20)."""
from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from common import policy
from common.errors import Conflict, InvalidField
from common.i18n import N_
from common.identity import accounts, setup_links
from common.models import AuditEntry, EnrollmentCode, Enterprise, Node, NodeApplication, User, utcnow
from common.notify.webhooks import clean_webhook_url, masked_change
from common.policy import Principal
from common.reference import NODE_STATUSES
from common.roster import service as roster
from common.service import Problems, apply_changes, audit_write, choice, optional_text, parse_uuid, required_text
from common.validation import mask_phone, validate_mobile, validate_region_code

ENROLLMENT_TTL = timedelta(hours=72)
KIND_PREFIX = {"subcenter": "sc", "workstation": "ws"}
# Requests about a node that exists already go through the same review as a new one (Art. 20): the node concerned
# is kept in `created_node` from the start, and approval changes that node instead of making one.
NODE_REQUESTS = {"head_change": N_("Replace the head"), "suspend": N_("Suspend the node"),
                 "retire": N_("Retire the node"), "reinstate": N_("Reinstate the node")}
APPLICATION_KINDS = {"subcenter": N_("New sub-center"), "workstation": N_("New workstation"), **NODE_REQUESTS}
# The node status each request needs before, and the one its approval sets.
REQUEST_STATUS = {"head_change": ("active", None), "suspend": ("active", "suspended"),
                  "retire": ("active suspended", "retired"), "reinstate": ("suspended", "active")}
# What an approved parent of each new kind must be: sub-centers hang off the office, workstations off a sub-center.
PARENT_KIND = {"subcenter": "hub", "workstation": "subcenter"}
DECISIONS = {"approve": "approved", "reject": "rejected", "return": "returned"}


# --- nodes -----------------------------------------------------------------------------------------------------

def node_out(n: Node, p: Principal) -> dict[str, Any]:
    return {"id": n.id, "kind": n.kind, "name": n.name, "parent": n.parent_id, "region_code": n.region_code,
            "status": n.status, "host_enterprise_id": str(n.host_enterprise_id) if n.host_enterprise_id else None,
            "version": n.version, **({"webhook_url": n.webhook_url} if p.is_office else {})}


def add_node(session: Session, node_id: str, kind: str, name: str, parent_id: str | None, region_code: str,
             host_enterprise_id: uuid.UUID | None = None) -> Node:
    parent = session.get(Node, parent_id) if parent_id else None
    path = f"{parent.path}{node_id}/" if parent else f"/{node_id}/"
    node = Node(id=node_id, kind=kind, name=name, parent_id=parent_id, path=path, region_code=region_code,
                host_enterprise_id=host_enterprise_id)
    session.add(node)
    session.flush()
    return node


def node_slice(session: Session, node_id: str) -> list[dict[str, Any]]:
    """The nodes a spoke must know: its ancestors up to the hub, itself and everything below it."""
    node = session.get(Node, node_id)
    lineage = [part for part in node.path.split("/") if part]
    rows = session.scalars(select(Node).where((Node.id.in_(lineage)) | (Node.path.startswith(node.path)))
                           .order_by(Node.path)).all()
    return [{"id": n.id, "kind": n.kind, "name": n.name, "parent": n.parent_id, "path": n.path,
             "region_code": n.region_code, "status": n.status, "version": n.version} for n in rows]


def update_node(session: Session, p: Principal, node_id: str, data: dict[str, Any]) -> Node:
    node = policy.get_visible(session, Node, node_id, p)
    policy.require_write(p, "node", "update")
    problems = Problems()
    values: dict[str, Any] = {}
    if "name" in data:
        values["name"] = required_text(problems, data, "name", 200)
    if "status" in data:
        values["status"] = choice(problems, data, "status", NODE_STATUSES)
    if "region_code" in data:
        values["region_code"] = problems.check(validate_region_code, data["region_code"] or "", "region_code")
    if "webhook_url" in data:
        values["webhook_url"] = clean_webhook_url(problems, data)
    problems.raise_if_any()
    if node.kind == "hub" and values.get("status", "active") != "active":
        raise Conflict(N_("The hub cannot be suspended or retired."))
    changed = apply_changes(node, values)
    if changed:
        session.flush()
        audit_write(session, p, "update", "node", node.id, {"changed": masked_change(changed)})
    return node


def new_node_id(session: Session, kind: str, name: str) -> str:
    """A readable id from the name's pinyin (杭州分中心 → sc-hangzhou), made unique with a number."""
    from pypinyin import lazy_pinyin  # here, not at import: see common.roster.service.name_pinyin

    stem = re.sub(r"(分中心|工作站|分部|中心)$", "", name.strip())
    slug = re.sub(r"[^a-z0-9]+", "-", "".join(lazy_pinyin(stem)).lower()).strip("-")[:40] or "node"
    base = f"{KIND_PREFIX.get(kind, 'n')}-{slug}"
    candidate, n = base, 2
    while session.get(Node, candidate) is not None:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def issue_enrollment_code(session: Session, node_id: str, created_by: uuid.UUID | None = None,
                          now: datetime | None = None) -> str:
    """A fresh one-time code for an active node; only its hash is kept, and earlier unused codes stop working.

    Ending the earlier codes keeps one live secret per node: a code that leaked or was mislaid is worth nothing
    once the office issues another.
    """
    node = session.get(Node, node_id)
    if node is None or node.kind == "hub":
        raise InvalidField("node", N_("No such node"))
    if node.status != "active":
        raise Conflict(N_("Only an active node can be enrolled."))
    now = now or utcnow()
    session.execute(update(EnrollmentCode).where(EnrollmentCode.node_id == node_id, EnrollmentCode.used_at.is_(None),
                                                 EnrollmentCode.expires_at > now).values(expires_at=now))
    code = "-".join(secrets.token_hex(3).upper() for _ in range(4))
    session.add(EnrollmentCode(code_hash=hash_code(code), node_id=node_id, created_at=now,
                               expires_at=now + ENROLLMENT_TTL, created_by=created_by))
    session.flush()
    return code


def reissue_enrollment_code(session: Session, p: Principal, node_id: str, now: datetime | None = None) -> str:
    """The office's fresh code for a node whose code was lost, expired or used on a machine that died."""
    policy.require_office(p)
    code = issue_enrollment_code(session, node_id, p.user_id, now)
    audit_write(session, p, "enrollment-code", "node", node_id, {})
    return code


def latest_enrollment(session: Session, node_id: str, now: datetime | None = None) -> dict[str, Any] | None:
    """What may be said of a node's newest code without the code itself: when issued, until when, used or not."""
    row = session.scalars(select(EnrollmentCode).where(EnrollmentCode.node_id == node_id)
                          .order_by(EnrollmentCode.created_at.desc()).limit(1)).first()
    if row is None:
        return None
    expires = _aware(row.expires_at)
    state = "used" if row.used_at else ("expired" if expires <= (now or utcnow()) else "valid")
    return {"created_at": _aware(row.created_at), "expires_at": expires, "used_at": row.used_at, "state": state}


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes for what was written in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def hash_code(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


# --- applications ----------------------------------------------------------------------------------------------

def clean_application(session: Session, data: dict[str, Any], partial: bool, p: Principal,
                      current: NodeApplication | None = None) -> dict[str, Any]:
    """The values of a new application or of an edit, checked by kind; every refused field at once."""
    problems = Problems()
    out: dict[str, Any] = {}
    kind = current.kind if current is not None else None
    if current is None:
        kind = out["kind"] = choice(problems, data, "kind", set(APPLICATION_KINDS))
    if kind in NODE_REQUESTS:
        _clean_node_request(session, data, partial, p, kind, current, problems, out)
    else:
        _clean_new_node(session, data, partial, p, kind, problems, out)
    for field in ("reason", "background"):
        if field in data or not partial:
            out[field] = optional_text(problems, data, field, 8000) or ""
    if kind in NODE_REQUESTS and ("reason" in data or not partial) and not out.get("reason"):
        problems.add("reason", N_("Say why, for the office"))
    problems.raise_if_any()
    return out


def _clean_new_node(session: Session, data: dict[str, Any], partial: bool, p: Principal, kind: str | None,
                    problems: Problems, out: dict[str, Any]) -> None:
    present = (lambda f: f in data) if partial else (lambda f: True)  # noqa: E731
    if present("name"):
        out["name"] = required_text(problems, data, "name", 200)
    if present("region_code"):
        out["region_code"] = problems.check(validate_region_code, data.get("region_code") or "", "region_code")
    if present("parent_node"):
        # Only a node the applicant may see can be named: another tenant's node reads as a missing one.
        parent = session.scalars(policy.scoped(Node, p).where(Node.id == (data.get("parent_node") or ""))).first()
        if parent is None or parent.kind == "workstation":
            problems.add("parent_node", N_("No such node"))
        elif kind in PARENT_KIND and parent.kind != PARENT_KIND[kind]:
            problems.add("parent_node", N_("A sub-center belongs to the center office; a workstation to a sub-center."))
        elif parent.status != "active":
            problems.add("parent_node", N_("This node is not active."))
        out["parent_node"] = data.get("parent_node")
    _clean_head(data, partial, problems, out)
    if data.get("host_enterprise_id"):
        host = parse_uuid(problems, data, "host_enterprise_id")
        if host is not None and session.scalars(policy.scoped(Enterprise, p).where(Enterprise.id == host)).first() is None:
            problems.add("host_enterprise_id", N_("No such enterprise"))
        out["host_enterprise_id"] = host
    if kind == "workstation" and not partial and not out.get("host_enterprise_id"):
        problems.add("host_enterprise_id", N_("A workstation needs its host enterprise"))


def _clean_head(data: dict[str, Any], partial: bool, problems: Problems, out: dict[str, Any]) -> None:
    if "head_name" in data or not partial:
        out["head_name"] = required_text(problems, data, "head_name", 100)
    if "head_phone" in data or not partial:
        out["head_phone"] = problems.check(validate_mobile, data.get("head_phone") or "", "head_phone")


def _clean_node_request(session: Session, data: dict[str, Any], partial: bool, p: Principal, kind: str,
                        current: NodeApplication | None, problems: Problems, out: dict[str, Any]) -> None:
    """A request about an existing node: the node is named once, its name and place copied from it."""
    if kind == "head_change":
        _clean_head(data, partial, problems, out)
    elif current is None:
        out["head_name"], out["head_phone"] = "", ""
    if current is not None:
        return
    target = session.scalars(policy.scoped(Node, p).where(Node.id == (data.get("target_node") or ""))).first()
    if target is None or target.kind == "hub":
        problems.add("target_node", N_("No such node"))
        return
    if not p.is_office and target.id not in p.subtree:
        problems.add("target_node", N_("Only your own node or a node below it."))
        return
    if target.status not in REQUEST_STATUS[kind][0].split():
        problems.add("target_node", N_("This request does not apply to the node in its present status."))
        return
    pending = select(NodeApplication.id).where(NodeApplication.created_node == target.id,
                                               NodeApplication.kind.in_(list(NODE_REQUESTS)),
                                               NodeApplication.status.in_(["submitted", "returned"]),
                                               NodeApplication.deleted_at.is_(None))
    if session.scalar(pending.limit(1)) is not None:
        problems.add("target_node", N_("A request about this node is already under review."))
    out.update(created_node=target.id, name=target.name, region_code=target.region_code, parent_node=target.parent_id,
               host_enterprise_id=target.host_enterprise_id)


def create_application(session: Session, p: Principal, data: dict[str, Any]) -> NodeApplication:
    values = clean_application(session, data, partial=False, p=p)
    policy.require_write(p, "application", "create", p.node_id)
    application = NodeApplication(node_id=p.node_id, submitted_by=p.user_id, status="submitted", **values)
    session.add(application)
    session.flush()
    audit_write(session, p, "create", "application", application.id, {"kind": application.kind, "name": application.name})
    return application


def update_application(session: Session, p: Principal, application_id: uuid.UUID, data: dict[str, Any]) -> NodeApplication:
    application = policy.get_visible(session, NodeApplication, application_id, p)
    policy.require_write(p, "application", "update", application.node_id)
    if application.status not in ("submitted", "returned"):
        raise Conflict(N_("A decided application can no longer be changed."))
    if data.get("head_phone") and data["head_phone"] == mask_phone(application.head_phone):
        data = {k: v for k, v in data.items() if k != "head_phone"}  # the masked form came back unchanged: keep it
    changed = apply_changes(application, clean_application(session, data, partial=True, p=p, current=application))
    if application.status == "returned":
        # Editing a returned application resubmits it for review.
        application.status = "submitted"
        changed["status"] = ["returned", "submitted"]
    if changed:
        session.flush()
        audit_write(session, p, "update", "application", application.id, {"changed": changed})
    return application


class HeadAccount(NamedTuple):
    """The account an approval made for a node's head, and the token of its one-time setup link."""

    username: str
    token: str


class Decided(NamedTuple):
    application: NodeApplication
    # The new node's one-time enrollment code.
    code: str | None
    head: HeadAccount | None


# The role of a node's head: a sub-center's head keeps the sub-center, a workstation's its enterprise's window.
HEAD_ROLES = {"subcenter": "subcenter", "workstation": "enterprise"}


def decide_application(session: Session, p: Principal, application_id: uuid.UUID, decision: str,
                       comment: str, now: datetime | None = None) -> Decided:
    """The office approves, rejects or returns an application. An approval creates the node and its code (a new
    workstation takes its host enterprise with the enterprise's whole file), or (a request about a node) changes
    that node; the head it names gets an account with a one-time setup link, and a replaced head's account is
    disabled."""
    application = policy.get_visible(session, NodeApplication, application_id, p)
    policy.require_office(p)
    if decision not in DECISIONS:
        raise InvalidField("decision", N_("Not one of the allowed values"))
    if application.status != "submitted":
        raise Conflict(N_("Only a submitted application can be decided."))
    if decision != "approve" and not (comment or "").strip():
        raise InvalidField("comment", N_("Say why, for the applicant"))
    now = now or utcnow()
    application.status = DECISIONS[decision]
    application.decided_by, application.decided_at = p.user_id, now
    application.decision_comment = (comment or "").strip()
    code = head = None
    if decision == "approve" and application.kind in NODE_REQUESTS:
        _apply_node_request(session, p, application)
        if application.kind == "head_change":
            head = _new_head(session, p, application, now)
    elif decision == "approve":
        node = add_node(session, new_node_id(session, application.kind, application.name), application.kind,
                        application.name, application.parent_node, application.region_code,
                        application.host_enterprise_id)
        application.created_node = node.id
        code = issue_enrollment_code(session, node.id, p.user_id, now)
        if node.kind == "workstation" and application.host_enterprise_id is not None:
            _take_host(session, p, node, application.host_enterprise_id)
        head = _new_head(session, p, application, now)
    session.flush()
    audit_write(session, p, f"application.{decision}", "application", application.id,
                {"comment": application.decision_comment, "node": application.created_node,
                 **({"head_account": head.username} if head else {})})
    _tell_applicant(session, application, decision)
    return Decided(application, code, head)


DECISION_WORDS = {"approve": N_("Application approved"), "reject": N_("Application rejected"),
                  "return": N_("Application returned for changes")}


def _tell_applicant(session: Session, application: NodeApplication, decision: str) -> None:
    """The person who submitted the application hears the decision (in their inbox and mailbox, not in a group)."""
    from common.cases.notices import zh
    from common.notify.service import Audience, Notice, notify

    if application.submitted_by is None:
        return
    headline = zh(DECISION_WORDS[decision])
    body = "\n".join(part for part in (f"{zh(N_('Application'))}：{application.name}",
                                        application.decision_comment) if part)
    notice = Notice(kind=f"application.{decision}", title=f"{headline}：{application.name}"[:300], body=body,
                    link=f"/applications/{application.id}", entity_type="application", entity_id=application.id)
    notify(session, f"application:{application.id}:{application.status}:{application.decided_at.isoformat()}",
           notice, Audience(users=(application.submitted_by,)), channels=("inbox", "email"))


def _take_host(session: Session, p: Principal, node: Node, enterprise_id: uuid.UUID) -> None:
    """The new workstation holds its host enterprise (Art. 11): the enterprise, its people, cases and visits move to
    it from the sub-center, captured for sync row by row like any move."""
    host = session.get(Enterprise, enterprise_id, with_for_update=True)
    if host is None or host.deleted_at is not None or host.node_id == node.id:
        return
    before = host.node_id
    host.node_id = node.id
    roster.move_file(session, host)
    session.flush()
    audit_write(session, p, "update", "enterprise", host.id, {"changed": {"node_id": [before, node.id]}})


def _new_head(session: Session, p: Principal, application: NodeApplication, now: datetime) -> HeadAccount | None:
    """An account for the head the approved application names, with its setup link; the head it replaces (the
    node's recorded head, or before heads were recorded, the node's accounts of the head's role) is disabled."""
    node = session.get(Node, application.created_node, with_for_update=True)
    if node is None or node.kind not in HEAD_ROLES or not (application.head_name or "").strip():
        return None
    role = HEAD_ROLES[node.kind]
    if application.kind == "head_change":
        if node.head_user_id is not None:
            former = [node.head_user_id]
        else:
            former = list(session.scalars(select(User.id).where(User.node_id == node.id, User.role == role,
                                                                User.active.is_(True), User.deleted_at.is_(None))))
        for user_id in former:
            accounts.update_user(session, p, user_id, {"active": False})
    base = "head_" + re.sub(r"[^a-z0-9]+", "_", node.id.lower()).strip("_")
    username, n = base[:32], 1
    while session.scalar(select(User.id).where(User.username == username)) is not None:
        n += 1
        username = f"{base[:28]}_{n}"
    user = accounts.create_user(session, p, {"username": username, "name": application.head_name.strip(),
                                             "role": role, "node": node.id, "phone": application.head_phone or ""})
    node.head_user_id = user.id
    return HeadAccount(username, setup_links.issue(session, p, user, now))


def _apply_node_request(session: Session, p: Principal, application: NodeApplication) -> None:
    """Suspend, retire or reinstate the node; a new head is the approved application itself."""
    node = session.get(Node, application.created_node, with_for_update=True)
    before, after = REQUEST_STATUS[application.kind]
    if node is None or node.status not in before.split():
        raise Conflict(N_("The node has changed since the request was made; it no longer applies."))
    if after and after != node.status:
        # Suspension bites at once: the hub checks the node's status on every token and every sync call.
        audit_write(session, p, "update", "node", node.id, {"changed": {"status": [node.status, after]}})
        node.status = after


def comment_on_application(session: Session, p: Principal, application_id: uuid.UUID, comment: str) -> NodeApplication:
    """A note of the office's review, kept in the application's history without deciding anything."""
    application = policy.get_visible(session, NodeApplication, application_id, p)
    policy.require_office(p)
    text = (comment or "").strip()
    if not text:
        raise InvalidField("comment", N_("This field is required"))
    if len(text) > 4000:
        raise InvalidField("comment", N_("At most {max} characters"), max=4000)
    audit_write(session, p, "application.comment", "application", application.id, {"comment": text})
    return application


def application_history(session: Session, application: NodeApplication) -> list[AuditEntry]:
    """Who did what to an application and when, oldest first: the append-only audit trail is the record.

    At the hub it holds everything (the spokes' own entries arrive by sync); a spoke holds what was done there.
    """
    return list(session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "application",
                                                         AuditEntry.entity_id == str(application.id))
                                .order_by(AuditEntry.at, AuditEntry.seq)))


def current_heads(session: Session, node_ids: list[str]) -> dict[str, NodeApplication]:
    """The head of each node is the one named by its latest approved application (new node or head change)."""
    rows = session.scalars(select(NodeApplication).where(
        NodeApplication.created_node.in_(node_ids), NodeApplication.status == "approved",
        NodeApplication.kind.in_(["subcenter", "workstation", "head_change"]), NodeApplication.deleted_at.is_(None))
        .order_by(NodeApplication.decided_at))
    return {a.created_node: a for a in rows if a.created_node}


def application_out(a: NodeApplication, p: Principal) -> dict[str, Any]:
    return {
        "id": str(a.id), "kind": a.kind, "name": a.name, "region_code": a.region_code, "parent_node": a.parent_node,
        "host_enterprise_id": str(a.host_enterprise_id) if a.host_enterprise_id else None, "head_name": a.head_name,
        "head_phone": a.head_phone if policy.reveals(p, "phone") else mask_phone(a.head_phone),
        "reason": a.reason, "background": a.background, "status": a.status, "node": a.node_id,
        "target_node": a.created_node if a.kind in NODE_REQUESTS else None,
        "decision_comment": a.decision_comment, "created_node": a.created_node,
        "decided_at": a.decided_at.isoformat() if a.decided_at else None, "created_at": a.created_at.isoformat(),
    }
