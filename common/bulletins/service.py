"""Warnings, news and legal information pushed to nodes, with per-node acknowledgements (Art. 12, 19)."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, case, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from common import policy
from common.clock import clock
from common.errors import Conflict, InvalidField
from common.i18n import N_
from common.models import (
    Attachment,
    Bulletin,
    BulletinAck,
    BulletinAudience,
    BulletinReminder,
    Enterprise,
    Node,
    SyncMove,
    User,
    utcnow,
)
from common.policy import Principal
from common.reference import BULLETIN_KINDS, BULLETIN_SEVERITIES, INDUSTRIES
from common.validation import MAX_SHORT, MAX_TARGETS
from common.service import Problems, apply_changes, audit_write, choice, delete_row, required_text


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
        # The same bound as the API's schema: a longer list is no audience anyone chose by hand.
        if len(values) > MAX_TARGETS or any(len(v) > MAX_SHORT for v in values):
            problems.add("targets", N_("At most {max} items"), max=MAX_TARGETS)
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
    """The nodes a bulletin reaches: named nodes, nodes in the regions, nodes holding enterprises of the industries.

    "All" is resolved too (every node but the hub and retired ones), so that acknowledgement progress, reminders and
    the banner of unacknowledged warnings work from one table whatever the targets were.
    """
    nodes: set[str] = set()
    if targets.get("all"):
        nodes |= set(session.scalars(select(Node.id).where(Node.kind != "hub", Node.status != "retired")))
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


def _check_named_nodes(session: Session, targets: dict[str, Any]) -> None:
    """A node named as a target must exist and be one that receives bulletins (not the hub itself)."""
    named = set(targets.get("nodes") or [])
    if not named:
        return
    known = set(session.scalars(select(Node.id).where(Node.id.in_(sorted(named)), Node.kind != "hub")))
    if named - known:
        raise InvalidField("targets", N_("No such node: {nodes}"), nodes=", ".join(sorted(named - known)))


def _clean_with_nodes(session: Session, data: dict[str, Any], partial: bool) -> dict[str, Any]:
    """The fields, and the named target nodes, checked together so the person sees every problem at once."""
    problems = Problems()
    values = problems.check(clean_bulletin, data, partial)
    if "targets" in data or not partial:
        targets = values["targets"] if values else clean_targets(Problems(), data.get("targets"))
        problems.check(_check_named_nodes, session, targets)
    problems.raise_if_any()
    return values


def _publish(session: Session, bulletin: Bulletin) -> None:
    """Resolve the audience now: a bulletin that would reach nobody is refused rather than published to no one."""
    audience = resolve_audience(session, bulletin.targets)
    if not audience:
        raise InvalidField("targets", N_("No node matches these targets yet"))
    bulletin.for_all = bool(bulletin.targets.get("all"))
    bulletin.published_at = bulletin.published_at or utcnow()
    before = set(session.scalars(select(BulletinAudience.node_id).where(BulletinAudience.bulletin_id == bulletin.id)))
    if not bulletin.for_all:
        # Nodes it no longer addresses: their spokes drop it (and what hangs on it) in their next round.
        version = clock.now()
        for node_id in sorted(before - audience):
            session.add(SyncMove(entity="bulletin", row_id=str(bulletin.id), from_node=node_id, to_node=bulletin.node_id,
                                 version=version))
    session.execute(delete(BulletinAudience).where(BulletinAudience.bulletin_id == bulletin.id))
    # Its files travel with it: given a new version, they reach the spokes newly addressed (who pulled past them).
    session.execute(update(Attachment).where(Attachment.entity_type == "bulletin", Attachment.entity_id == bulletin.id)
                    .values(version=clock.now()))
    for node_id in sorted(audience):
        session.add(BulletinAudience(bulletin_id=bulletin.id, node_id=node_id))
    if bulletin.kind == "warning":
        _tell_addressed(session, bulletin, audience)


def _tell_addressed(session: Session, bulletin: Bulletin, audience: set[str]) -> None:
    """A warning published (Art. 19): the people of the nodes it addresses and their groups. Keyed by the bulletin,
    so a node added to its targets later is told, and none twice."""
    from common.cases.notices import zh
    from common.notify.service import Audience, Notice, notify

    headline = zh(N_("Warning"))
    group_text = f"**{headline}：{bulletin.title}**\n{bulletin.body[:500]}"
    notice = Notice(kind="bulletin.published", title=f"{headline}：{bulletin.title}"[:300], body=bulletin.body,
                    link=f"/bulletins/{bulletin.id}", entity_type="bulletin", entity_id=bulletin.id,
                    urgent=bulletin.severity in ("serious", "critical"), group_text=group_text)
    notify(session, f"bulletin:{bulletin.id}:published", notice, Audience(nodes=tuple(sorted(audience))))


def _wants_publish(data: dict[str, Any], default: bool) -> bool:
    value = data.get("publish", default)
    return value not in (False, None, "0", "false", "")


def create_bulletin(session: Session, p: Principal, data: dict[str, Any]) -> Bulletin:
    policy.require_write(p, "bulletin", "create")
    values = _clean_with_nodes(session, data, partial=False)
    bulletin = Bulletin(node_id=p.node_id, author_id=p.user_id, **values)
    session.add(bulletin)
    session.flush()
    if _wants_publish(data, True):
        _publish(session, bulletin)
    session.flush()
    audit_write(session, p, "create", "bulletin", bulletin.id, {"title": bulletin.title, "targets": bulletin.targets})
    return bulletin


def update_bulletin(session: Session, p: Principal, bulletin_id: uuid.UUID, data: dict[str, Any]) -> Bulletin:
    bulletin = policy.get_visible(session, Bulletin, bulletin_id, p)
    policy.require_write(p, "bulletin", "update")
    values = _clean_with_nodes(session, data, partial=True)
    changed = apply_changes(bulletin, values)
    if changed and bulletin.published_at is not None and "targets" in changed:
        _publish(session, bulletin)
    if changed:
        session.flush()
        audit_write(session, p, "update", "bulletin", bulletin.id, {"changed": changed})
    if _wants_publish(data, False) and bulletin.published_at is None:
        publish_bulletin(session, p, bulletin.id)
    return bulletin


def publish_bulletin(session: Session, p: Principal, bulletin_id: uuid.UUID) -> Bulletin:
    """Publish a draft: its audience is resolved from its targets as they are now."""
    bulletin = policy.get_visible(session, Bulletin, bulletin_id, p)
    policy.require_write(p, "bulletin", "update")
    if bulletin.published_at is not None:
        raise Conflict(N_("This bulletin is already published."))
    _publish(session, bulletin)
    session.flush()
    audit_write(session, p, "bulletin.publish", "bulletin", bulletin.id, {"targets": bulletin.targets})
    return bulletin


def delete_bulletin(session: Session, p: Principal, bulletin_id: uuid.UUID) -> None:
    delete_row(session, p, Bulletin, "bulletin", bulletin_id)


def acknowledge(session: Session, p: Principal, bulletin_id: uuid.UUID) -> BulletinAck:
    """The caller's node acknowledges a bulletin addressed to it; a second acknowledgement changes nothing."""
    bulletin = policy.get_visible(session, Bulletin, bulletin_id, p)
    if bulletin.published_at is None:
        raise Conflict(N_("A draft cannot be acknowledged."))
    if not is_addressed_to(session, bulletin, p.node_id):
        raise Conflict(N_("This bulletin is not addressed to your node."))
    existing = session.scalars(select(BulletinAck).where(BulletinAck.bulletin_id == bulletin.id,
                                                         BulletinAck.node_id == p.node_id)).first()
    if existing is not None:
        return existing
    ack = BulletinAck(bulletin_id=bulletin.id, node_id=p.node_id, user_id=p.user_id)
    session.add(ack)
    session.flush()
    audit_write(session, p, "bulletin.ack", "bulletin", bulletin.id)
    return ack


def is_addressed_to(session: Session, bulletin: Bulletin, node_id: str) -> bool:
    """Whether `node_id` is one of the bulletin's target nodes (the ones expected to acknowledge it)."""
    if bulletin.for_all and node_id != "hub":
        return True
    return session.scalar(select(BulletinAudience.node_id).where(BulletinAudience.bulletin_id == bulletin.id,
                                                                 BulletinAudience.node_id == node_id)) is not None


# --- reminders -----------------------------------------------------------------------------------------------

def pending_nodes(session: Session, bulletin_id: uuid.UUID) -> list[str]:
    """Target nodes that have not acknowledged the bulletin yet."""
    acked = exists().where(BulletinAck.bulletin_id == bulletin_id, BulletinAck.node_id == BulletinAudience.node_id)
    return list(session.scalars(select(BulletinAudience.node_id).where(BulletinAudience.bulletin_id == bulletin_id, ~acked)
                                .order_by(BulletinAudience.node_id)))


def remind(session: Session, p: Principal, bulletin_id: uuid.UUID, nodes: list[str] | None = None) -> list[BulletinReminder]:
    """The office reminds target nodes that have not acknowledged (all of them unless `nodes` names some).

    One row per reminded node, owned by that node, so the reminder reaches it and shows in its banner.
    """
    bulletin = policy.get_visible(session, Bulletin, bulletin_id, p)
    policy.require_write(p, "bulletin", "update")
    if bulletin.published_at is None:
        raise Conflict(N_("Publish the bulletin before sending reminders."))
    pending = pending_nodes(session, bulletin.id)
    chosen = pending if not nodes else sorted(set(nodes))
    if not pending:
        raise Conflict(N_("Every target node has acknowledged this bulletin."))
    if not chosen or not set(chosen) <= set(pending):
        raise InvalidField("nodes", N_("Choose target nodes that have not acknowledged yet"))
    at = utcnow()
    reminders = [BulletinReminder(bulletin_id=bulletin.id, node_id=node_id, reminded_by=p.user_id, at=at) for node_id in chosen]
    session.add_all(reminders)
    session.flush()
    audit_write(session, p, "bulletin.remind", "bulletin", bulletin.id, {"nodes": chosen})
    return reminders


# --- what the pages and the API show -------------------------------------------------------------------------

def audience_status(session: Session, bulletin_id: uuid.UUID) -> list[dict[str, Any]]:
    """Per target node: who acknowledged and when, and how often and when it was last reminded."""
    nodes = session.execute(select(Node.id, Node.name, Node.kind).join(BulletinAudience, BulletinAudience.node_id == Node.id)
                            .where(BulletinAudience.bulletin_id == bulletin_id).order_by(Node.path)).all()
    acks = {row.node_id: row for row in session.execute(
        select(BulletinAck.node_id, BulletinAck.at, User.username, User.display_name)
        .outerjoin(User, User.id == BulletinAck.user_id).where(BulletinAck.bulletin_id == bulletin_id))}
    reminders = {row.node_id: row for row in session.execute(
        select(BulletinReminder.node_id, func.count().label("times"), func.max(BulletinReminder.at).label("last"))
        .where(BulletinReminder.bulletin_id == bulletin_id, BulletinReminder.deleted_at.is_(None))
        .group_by(BulletinReminder.node_id))}
    out = []
    for node in nodes:
        ack, reminder = acks.get(node.id), reminders.get(node.id)
        out.append({"node": node.id, "name": node.name, "kind": node.kind,
                    "acknowledged_at": ack.at if ack else None,
                    "acknowledged_by": ack.username if ack else None,
                    "acknowledged_by_name": ack.display_name if ack else None,
                    "reminders": reminder.times if reminder else 0, "reminded_at": reminder.last if reminder else None})
    return out


def progress(session: Session, bulletin_ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[int, int]]:
    """Bulletin → (target nodes that acknowledged, target nodes), for a page of the office's list in one query."""
    if not bulletin_ids:
        return {}
    rows = session.execute(
        select(BulletinAudience.bulletin_id, func.count(BulletinAck.id), func.count())
        .outerjoin(BulletinAck, and_(BulletinAck.bulletin_id == BulletinAudience.bulletin_id,
                                     BulletinAck.node_id == BulletinAudience.node_id))
        .where(BulletinAudience.bulletin_id.in_(bulletin_ids)).group_by(BulletinAudience.bulletin_id))
    return {bulletin_id: (acked, total) for bulletin_id, acked, total in rows}


def node_view(p: Principal) -> Select[Any]:
    """What a node's people see, with whether their node is a target and has acknowledged: open ones first."""
    acked = exists().where(BulletinAck.bulletin_id == Bulletin.id, BulletinAck.node_id == p.node_id)
    addressed = or_(Bulletin.for_all.is_(True), exists().where(BulletinAudience.bulletin_id == Bulletin.id,
                                                               BulletinAudience.node_id == p.node_id))
    reminded = exists().where(BulletinReminder.bulletin_id == Bulletin.id, BulletinReminder.node_id == p.node_id,
                              BulletinReminder.deleted_at.is_(None))
    open_first = case((and_(addressed, ~acked), 0), else_=1)
    return (policy.scoped(Bulletin, p)
            .add_columns(acked.label("acked"), addressed.label("addressed"), reminded.label("reminded"))
            .order_by(open_first, Bulletin.published_at.desc(), Bulletin.id.desc()))


def node_reminders(session: Session, bulletin_id: uuid.UUID, node_id: str) -> tuple[int, datetime | None]:
    """How often, and when last, the office reminded this node of this bulletin."""
    row = session.execute(select(func.count(), func.max(BulletinReminder.at))
                          .where(BulletinReminder.bulletin_id == bulletin_id, BulletinReminder.node_id == node_id,
                                 BulletinReminder.deleted_at.is_(None))).one()
    return row[0], row[1]


def awaiting_acknowledgement(session: Session, node_id: str, limit: int) -> list[Any]:
    """Published bulletins addressed to the node and not acknowledged by it that call for attention: every warning,
    and anything the office reminded it of. One indexed query (audience by node, ack and reminder by bulletin+node)."""
    acked = exists().where(BulletinAck.bulletin_id == Bulletin.id, BulletinAck.node_id == node_id)
    reminders = select(BulletinReminder.at).where(BulletinReminder.bulletin_id == Bulletin.id,
                                                  BulletinReminder.node_id == node_id,
                                                  BulletinReminder.deleted_at.is_(None))
    last_reminder = reminders.with_only_columns(func.max(BulletinReminder.at)).scalar_subquery()
    stmt = (select(Bulletin.id, Bulletin.kind, Bulletin.title, Bulletin.severity, Bulletin.published_at,
                   last_reminder.label("reminded_at"))
            .join(BulletinAudience, and_(BulletinAudience.bulletin_id == Bulletin.id, BulletinAudience.node_id == node_id))
            .where(Bulletin.published_at.is_not(None), Bulletin.deleted_at.is_(None), ~acked,
                   or_(Bulletin.kind == "warning", reminders.exists()))
            .order_by(Bulletin.published_at.desc(), Bulletin.id.desc()).limit(limit))
    return list(session.execute(stmt))


def bulletin_out(b: Bulletin, p: Principal, acked: bool | None = None,
                 audience: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    out = {"id": str(b.id), "kind": b.kind, "title": b.title, "body": b.body, "severity": b.severity,
           "targets": b.targets, "published_at": b.published_at.isoformat() if b.published_at else None,
           "created_at": b.created_at.isoformat(), "version": b.version}
    if acked is not None:
        out["acknowledged"] = acked
    if audience is not None:
        out["audience"] = [{**row, "acknowledged_at": _iso(row["acknowledged_at"]), "reminded_at": _iso(row["reminded_at"])}
                           for row in audience]
    return out


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
