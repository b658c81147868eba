"""What the office's pages of units and nodes show: the unit roster, and the node tree with heads, statuses and sync."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from common import regions
from common.i18n import N_
from common.notify.webhooks import mask_webhook
from common.models import Node, NodeApplication, SyncPeer, User, utcnow
from common.reference import NODE_KINDS, NODE_STATUSES
from common.federation import service as federation

# The review requests a node in each status may be the subject of, in the order the page offers them.
NODE_ACTIONS = {"suspend": N_("Request suspension"), "retire": N_("Request retirement"),
                "reinstate": N_("Request reinstatement"), "head_change": N_("Request a new head")}


def region_prefix(code: str) -> str:
    """A province or city code as the prefix its districts share: 310000 → 31, 320500 → 3205."""
    code = (code or "").strip()
    while code.endswith("00") and len(code) > 2:
        code = code[:-2]
    return code


def _age(moment: Any, now: Any) -> float | None:
    if moment is None:
        return None
    aware = moment if moment.tzinfo else moment.replace(tzinfo=now.tzinfo)
    return max(0.0, (now - aware).total_seconds())


def nodes_context(session: Session, filters: dict[str, str]) -> dict[str, Any]:
    """Every node in tree order (hub → sub-centers → their workstations), filtered by kind, status and region."""
    every = list(session.scalars(select(Node).order_by(Node.path)))
    names = {n.id: n.name for n in every}
    shown = [n for n in every
             if (not filters.get("kind") or n.kind == filters["kind"])
             and (not filters.get("status") or n.status == filters["status"])
             and (not filters.get("region") or n.region_code.startswith(region_prefix(filters["region"])))]
    ids = [n.id for n in shown]
    peers = {p.node_id: p for p in session.scalars(select(SyncPeer).where(SyncPeer.node_id.in_(ids)))} if ids else {}
    heads = federation.current_heads(session, ids) if ids else {}
    head_users = [n.head_user_id for n in shown if n.head_user_id]
    accounts = {u.id: u for u in session.scalars(select(User).where(User.id.in_(head_users)))} if head_users else {}
    pending = {}
    if ids:
        for a in session.scalars(select(NodeApplication).where(
                NodeApplication.created_node.in_(ids), NodeApplication.kind.in_(list(federation.NODE_REQUESTS)),
                NodeApplication.status.in_(["submitted", "returned"]), NodeApplication.deleted_at.is_(None))):
            pending[a.created_node] = a
    now = utcnow()
    rows = []
    for node in shown:
        peer = peers.get(node.id)
        account = accounts.get(node.head_user_id) if node.head_user_id else None
        head = (account.display_name or account.username) if account else (heads[node.id].head_name if node.id in heads else "")
        failing = bool(peer and peer.last_error_at and (not peer.last_success_at or peer.last_error_at > peer.last_success_at))
        actions = [] if node.kind == "hub" or node.id in pending else [
            kind for kind in NODE_ACTIONS if node.status in federation.REQUEST_STATUS[kind][0].split()]
        rows.append({"node": node, "depth": max(0, node.path.count("/") - 2), "parent": names.get(node.parent_id or ""),
                     "region": regions.region_name(node.region_code) or node.region_code, "head": head,
                     "peer": peer, "failing": failing, "since_success": _age(peer.last_success_at, now) if peer else None,
                     "pending": pending.get(node.id), "actions": actions, "robot": mask_webhook(node.webhook_url)})
    region_codes = sorted({n.region_code for n in every})
    return {"rows": rows, "filters": filters, "node_kinds": NODE_KINDS, "node_statuses": NODE_STATUSES,
            "regions": {code: regions.region_name(code) or code for code in region_codes},
            "actions": NODE_ACTIONS, "request_kinds": federation.APPLICATION_KINDS, "node_error": None}
