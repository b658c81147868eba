"""What a spoke knows of its node's standing: the hub refusing its credentials, the statuses of its directory."""
from __future__ import annotations

from sqlalchemy.orm import Session

from common.audit import trail as audit
from common.db import Database
from common.models import Node
from common.settings import Settings
from sync.directory import apply_directory
from sync.hub_link import HubLink, HubRefused, HubUnreachable


def node_refused(refused: HubRefused) -> bool:
    """Whether the hub refused this spoke's own credentials because its node is suspended or retired."""
    body = refused.body if isinstance(refused.body, dict) else {}
    return body.get("error") == "unauthorized_client" and "node" in str(body.get("error_description", ""))


def learn_own_suspension(db: Database, settings: Settings, address: str = "") -> str:
    """The hub refuses this node's credentials, so the directory can no longer tell: note the node as suspended
    here, so that its people's sessions end and the offline login refuses them while the hub is away. The directory
    of the next round the hub accepts puts it right (a reinstatement changes the directory's tag)."""
    with db.transaction() as session:
        return _note_suspended(session, settings.node_id, address)


def _note_suspended(session: Session, node_id: str, address: str) -> str:
    node = session.get(Node, node_id)
    if node is None:
        return "suspended"
    if node.status == "active":
        node.status = "suspended"
        audit.record(session, node_id, "node.refused_by_hub", actor=f"node:{node_id}"[:64], entity_type="node",
                     entity_id=node_id, address=address, detail={"status": "suspended"})
    return node.status


def learn_if_node_refused(db: Database, settings: Settings, link: HubLink) -> None:
    """After a failed sync round: whether it failed because the hub refuses this node (one token request at most;
    a token still held means the hub has not refused it)."""
    try:
        link.node_token()
    except HubRefused as refused:
        if node_refused(refused):
            learn_own_suspension(db, settings)
    except HubUnreachable:
        pass


def refresh_directory(db: Database, settings: Settings, link: HubLink) -> None:
    """The directory taken again now, outside the rounds (a login the hub vouched for, against a stale status)."""
    try:
        payload = link.call("GET", "/api/v1/sync/directory")
    except (HubUnreachable, HubRefused):
        return  # the copy here stands; the next round tries again
    with db.transaction() as session:
        apply_directory(session, payload, settings.node_id)
