"""Warnings, news and legal information pushed to nodes, with per-node acknowledgements (Art. 12, 19)."""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from common import policy
from common.errors import Conflict
from common.i18n import N_
from common.models import Bulletin, BulletinAck, BulletinAudience, Enterprise, Node, utcnow
from common.policy import Principal
from common.reference import BULLETIN_KINDS, BULLETIN_SEVERITIES, INDUSTRIES
from common.services.base import Problems, apply_changes, audit_write, choice, delete_row, required_text


def clean_targets(problems: Problems, raw: Any) -> dict[str, Any]:
    """Targets: {"all": true} or any of regions (code prefixes), industries and nodes."""
    if raw in (None, "", "all"):
        return {"all": True, "regions": [], "industries": [], "nodes": []}
    if not isinstance(raw, dict):
        problems.add("targets", N_("Not one of the allowed values"))
        return {}
    targets = {"all": bool(raw.get("all")), "regions": [], "industries": [], "nodes": []}
    for key in ("regions", "industries", "nodes"):
        values = raw.get(key) or []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            problems.add("targets", N_("Not one of the allowed values"))
            continue
        targets[key] = sorted(set(values))
    if any(i not in INDUSTRIES for i in targets["industries"]):
        problems.add("targets", N_("Not one of the allowed values"))
    if any(not r.isdigit() or len(r) > 6 for r in targets["regions"]):
        problems.add("targets", N_("Not one of the allowed values"))
    if not (targets["all"] or targets["regions"] or targets["industries"] or targets["nodes"]):
        problems.add("targets", N_("Choose at least one target"))
    return targets


def clean_bulletin(data: dict[str, Any], partial: bool) -> dict[str, Any]:
    problems = Problems()
    out: dict[str, Any] = {}
    present = (lambda f: f in data) if partial else (lambda f: True)  # noqa: E731
    if present("kind"):
        out["kind"] = choice(problems, data, "kind", BULLETIN_KINDS)
    if present("title"):
        out["title"] = required_text(problems, data, "title", 200)
    if present("body"):
        out["body"] = required_text(problems, data, "body", 20000)
    if present("severity"):
        out["severity"] = choice(problems, data, "severity", BULLETIN_SEVERITIES, required=False) or "info"
    if present("targets"):
        out["targets"] = clean_targets(problems, data.get("targets"))
    problems.raise_if_any()
    return out


def resolve_audience(session: Session, targets: dict[str, Any]) -> set[str]:
    """The nodes a bulletin reaches: named nodes, nodes in the regions, nodes holding enterprises of the industries."""
    nodes: set[str] = set()
    if targets.get("nodes"):
        nodes |= set(session.scalars(select(Node.id).where(Node.id.in_(targets["nodes"]))))
    for prefix in targets.get("regions", []):
        stem = prefix.rstrip("0") or prefix
        nodes |= set(session.scalars(select(Node.id).where(Node.region_code.startswith(stem), Node.kind != "hub")))
    if targets.get("industries"):
        nodes |= set(session.scalars(select(Enterprise.node_id).where(
            Enterprise.industry.in_(targets["industries"]), Enterprise.deleted_at.is_(None)).distinct()))
    nodes.discard("hub")
    return nodes


def _publish(session: Session, bulletin: Bulletin) -> None:
    bulletin.for_all = bool(bulletin.targets.get("all"))
    bulletin.published_at = bulletin.published_at or utcnow()
    session.execute(delete(BulletinAudience).where(BulletinAudience.bulletin_id == bulletin.id))
    for node_id in sorted(resolve_audience(session, bulletin.targets)):
        session.add(BulletinAudience(bulletin_id=bulletin.id, node_id=node_id))


def create_bulletin(session: Session, p: Principal, data: dict[str, Any]) -> Bulletin:
    policy.require_write(p, "bulletin", "create")
    values = clean_bulletin(data, partial=False)
    bulletin = Bulletin(node_id=p.node_id, author_id=p.user_id, **values)
    session.add(bulletin)
    session.flush()
    if data.get("publish", True) not in (False, "0", "false", ""):
        _publish(session, bulletin)
    session.flush()
    audit_write(session, p, "create", "bulletin", bulletin.id, {"title": bulletin.title, "targets": bulletin.targets})
    return bulletin


def update_bulletin(session: Session, p: Principal, bulletin_id: uuid.UUID, data: dict[str, Any]) -> Bulletin:
    bulletin = policy.get_visible(session, Bulletin, bulletin_id, p)
    policy.require_write(p, "bulletin", "update")
    changed = apply_changes(bulletin, clean_bulletin(data, partial=True))
    if changed:
        if bulletin.published_at is not None and "targets" in changed:
            _publish(session, bulletin)
        session.flush()
        audit_write(session, p, "update", "bulletin", bulletin.id, {"changed": changed})
    return bulletin


def delete_bulletin(session: Session, p: Principal, bulletin_id: uuid.UUID) -> None:
    delete_row(session, p, Bulletin, "bulletin", bulletin_id)


def acknowledge(session: Session, p: Principal, bulletin_id: uuid.UUID) -> BulletinAck:
    """The caller's node acknowledges a bulletin addressed to it; a second acknowledgement changes nothing."""
    bulletin = policy.get_visible(session, Bulletin, bulletin_id, p)
    if bulletin.published_at is None:
        raise Conflict(N_("A draft cannot be acknowledged."))
    existing = session.scalars(select(BulletinAck).where(BulletinAck.bulletin_id == bulletin.id,
                                                         BulletinAck.node_id == p.node_id)).first()
    if existing is not None:
        return existing
    ack = BulletinAck(bulletin_id=bulletin.id, node_id=p.node_id, user_id=p.user_id)
    session.add(ack)
    session.flush()
    audit_write(session, p, "bulletin.ack", "bulletin", bulletin.id)
    return ack


def bulletin_out(b: Bulletin, p: Principal, acked: bool | None = None) -> dict[str, Any]:
    out = {"id": str(b.id), "kind": b.kind, "title": b.title, "body": b.body, "severity": b.severity,
           "targets": b.targets, "published_at": b.published_at.isoformat() if b.published_at else None,
           "created_at": b.created_at.isoformat(), "version": b.version}
    if acked is not None:
        out["acknowledged"] = acked
    return out
