"""The node tree and applications to grow it: sub-centers and workstations (Art. 11, 17(10), 20)."""
from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from datetime import timedelta
from typing import Any

from pypinyin import lazy_pinyin
from sqlalchemy import select
from sqlalchemy.orm import Session

from common import policy
from common.errors import Conflict, InvalidField
from common.i18n import N_
from common.models import EnrollmentCode, Enterprise, Node, NodeApplication, utcnow
from common.policy import Principal
from common.reference import NODE_STATUSES
from common.services.base import Problems, apply_changes, audit_write, choice, optional_text, parse_uuid, required_text
from common.validation import mask_phone, validate_mobile, validate_region_code

ENROLLMENT_TTL = timedelta(hours=72)
KIND_PREFIX = {"subcenter": "sc", "workstation": "ws"}


# --- nodes -----------------------------------------------------------------------------------------------------

def node_out(n: Node, p: Principal) -> dict[str, Any]:
    return {"id": n.id, "kind": n.kind, "name": n.name, "parent": n.parent_id, "region_code": n.region_code,
            "status": n.status, "host_enterprise_id": str(n.host_enterprise_id) if n.host_enterprise_id else None,
            "version": n.version}


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
    problems.raise_if_any()
    if node.kind == "hub" and values.get("status", "active") != "active":
        raise Conflict(N_("The hub cannot be suspended or retired."))
    changed = apply_changes(node, values)
    if changed:
        session.flush()
        audit_write(session, p, "update", "node", node.id, {"changed": changed})
    return node


def new_node_id(session: Session, kind: str, name: str) -> str:
    """A readable id from the name's pinyin (杭州分中心 → sc-hangzhou), made unique with a number."""
    stem = re.sub(r"(分中心|工作站|分部|中心)$", "", name.strip())
    slug = re.sub(r"[^a-z0-9]+", "-", "".join(lazy_pinyin(stem)).lower()).strip("-")[:40] or "node"
    base = f"{KIND_PREFIX.get(kind, 'n')}-{slug}"
    candidate, n = base, 2
    while session.get(Node, candidate) is not None:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def issue_enrollment_code(session: Session, node_id: str, created_by: uuid.UUID | None = None) -> str:
    """A fresh one-time code for an active node; only its hash is kept."""
    node = session.get(Node, node_id)
    if node is None or node.kind == "hub":
        raise InvalidField("node", N_("No such node"))
    if node.status != "active":
        raise Conflict(N_("Only an active node can be enrolled."))
    code = "-".join(secrets.token_hex(3).upper() for _ in range(4))
    now = utcnow()
    session.add(EnrollmentCode(code_hash=hash_code(code), node_id=node_id, created_at=now,
                               expires_at=now + ENROLLMENT_TTL, created_by=created_by))
    session.flush()
    return code


def hash_code(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


# --- applications ----------------------------------------------------------------------------------------------

def clean_application(session: Session, data: dict[str, Any], partial: bool, p: Principal) -> dict[str, Any]:
    problems = Problems()
    out: dict[str, Any] = {}
    present = (lambda f: f in data) if partial else (lambda f: True)  # noqa: E731
    if present("kind"):
        out["kind"] = choice(problems, data, "kind", set(KIND_PREFIX))
    if present("name"):
        out["name"] = required_text(problems, data, "name", 200)
    if present("region_code"):
        out["region_code"] = problems.check(validate_region_code, data.get("region_code") or "", "region_code")
    if present("parent_node"):
        # Only a node the applicant may see can be named: another tenant's node reads as a missing one.
        parent = session.scalars(policy.scoped(Node, p).where(Node.id == (data.get("parent_node") or ""))).first()
        if parent is None or parent.kind == "workstation":
            problems.add("parent_node", N_("No such node"))
        out["parent_node"] = data.get("parent_node")
    if present("head_name"):
        out["head_name"] = required_text(problems, data, "head_name", 100)
    if present("head_phone"):
        out["head_phone"] = problems.check(validate_mobile, data.get("head_phone") or "", "head_phone")
    for field in ("reason", "background"):
        if field in data or not partial:
            out[field] = optional_text(problems, data, field, 8000) or ""
    if data.get("host_enterprise_id"):
        host = parse_uuid(problems, data, "host_enterprise_id")
        if host is not None and session.scalars(policy.scoped(Enterprise, p).where(Enterprise.id == host)).first() is None:
            problems.add("host_enterprise_id", N_("No such enterprise"))
        out["host_enterprise_id"] = host
    kind = out.get("kind")
    if kind == "workstation" and not partial and not out.get("host_enterprise_id"):
        problems.add("host_enterprise_id", N_("A workstation needs its host enterprise"))
    problems.raise_if_any()
    return out


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
    changed = apply_changes(application, clean_application(session, data, partial=True, p=p))
    if application.status == "returned":
        # Editing a returned application resubmits it for review.
        application.status = "submitted"
        changed["status"] = ["returned", "submitted"]
    if changed:
        session.flush()
        audit_write(session, p, "update", "application", application.id, {"changed": changed})
    return application


def decide_application(session: Session, p: Principal, application_id: uuid.UUID, decision: str,
                       comment: str) -> tuple[NodeApplication, str | None]:
    """The office approves, rejects or returns an application; an approval creates the node and its code."""
    application = policy.get_visible(session, NodeApplication, application_id, p)
    policy.require_office(p)
    if decision not in ("approve", "reject", "return"):
        raise InvalidField("decision", N_("Not one of the allowed values"))
    if application.status != "submitted":
        raise Conflict(N_("Only a submitted application can be decided."))
    if decision != "approve" and not (comment or "").strip():
        raise InvalidField("comment", N_("Say why, for the applicant"))
    application.status = {"approve": "approved", "reject": "rejected", "return": "returned"}[decision]
    application.decided_by, application.decided_at = p.user_id, utcnow()
    application.decision_comment = (comment or "").strip()
    code = None
    if decision == "approve":
        node = add_node(session, new_node_id(session, application.kind, application.name), application.kind,
                        application.name, application.parent_node, application.region_code,
                        application.host_enterprise_id)
        application.created_node = node.id
        code = issue_enrollment_code(session, node.id, p.user_id)
    session.flush()
    audit_write(session, p, f"application.{decision}", "application", application.id,
                {"comment": application.decision_comment, "node": application.created_node})
    return application, code


def application_out(a: NodeApplication, p: Principal) -> dict[str, Any]:
    return {
        "id": str(a.id), "kind": a.kind, "name": a.name, "region_code": a.region_code, "parent_node": a.parent_node,
        "host_enterprise_id": str(a.host_enterprise_id) if a.host_enterprise_id else None, "head_name": a.head_name,
        "head_phone": a.head_phone if policy.reveals(p, "phone") else mask_phone(a.head_phone),
        "reason": a.reason, "background": a.background, "status": a.status, "node": a.node_id,
        "decision_comment": a.decision_comment, "created_node": a.created_node,
        "decided_at": a.decided_at.isoformat() if a.decided_at else None, "created_at": a.created_at.isoformat(),
    }

