"""The directory a spoke needs to let people in: the nodes around it, and its own node's people with their hashes;
also the police units, which the office adds and renames at the hub.

Only the spoke's own node's accounts travel, never another node's: a stolen spoke gives away no more than its own.
"""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

from litestar import Request, get
from litestar.exceptions import PermissionDeniedException
from sqlalchemy import select
from sqlalchemy.orm import Session

from common.audit import trail as audit
from common import i18n
from common.api.deps import Caller
from common.i18n import N_
from common.models import Node, Unit, User, utcnow
from common.center import settings

USER_FIELDS = ("username", "display_name", "role", "unit_id", "is_leader", "password_hash", "phone", "active")
UNIT_FIELDS = ("name", "name_en", "kind", "sort_order", "active")
# The hub's signed audit checkpoints a spoke has received, one JSON line each, in its data dir: a witness of the
# hub's audit chain that no one writing the hub's database can reach (`lianfu hub audit verify --witness`).
CHECKPOINTS_FILE = "audit_checkpoints.jsonl"


def directory_for(session: Session, node_id: str) -> dict[str, Any]:
    # At the hub only: a spoke's sync process never loads the roster's pinyin tables (tens of MB) for this.
    from common.federation.service import node_slice

    users = session.scalars(select(User).where(User.node_id == node_id).order_by(User.username)).all()
    return {
        "node": node_id,
        "nodes": node_slice(session, node_id),
        "users": [{"id": str(u.id), "node": u.node_id, "deleted": u.deleted_at is not None, "version": u.version,
                   **{f: getattr(u, f) for f in USER_FIELDS}} for u in users],
        "settings": settings.stored(session),
        "units": [{"id": u.id, **{f: getattr(u, f) for f in UNIT_FIELDS}} for u in session.scalars(select(Unit))],
    }


@get("/api/v1/sync/directory", sync_to_thread=True, tags=["sync"],
     summary="The nodes around a spoke and its own node's accounts (for logins while the hub is unreachable)")
def directory(request: Request, principal: Caller) -> dict[str, Any]:
    if principal.role != "spoke":
        raise PermissionDeniedException(i18n.gettext(N_("Only a node's own credentials can be used here.")))
    with request.app.state.db.reads() as session:
        found = directory_for(session, principal.node_id)
    # The hub's newest audit checkpoint, for the spoke to keep (the hub app sets the issuer; see
    # hub/audit_checkpoints.py): it rides on a request every spoke makes every few minutes anyway.
    issuer = request.app.state.get("audit_checkpoint")
    if issuer is not None:
        checkpoint = issuer()
        if checkpoint:
            found["audit_checkpoint"] = checkpoint
    return found


# --- the spoke's side -------------------------------------------------------------------------------------------

def apply_directory(session: Session, payload: dict[str, Any], own_node: str) -> dict[str, int]:
    """Take the hub's directory as it is: nodes by id (parents first), own accounts by id; nothing of other nodes."""
    counts = {"nodes": 0, "users": 0, "settings": 0, "units": 0}
    for raw in sorted(payload.get("nodes", []), key=lambda n: len(n["path"])):
        node = session.get(Node, raw["id"])
        values = {"kind": raw["kind"], "name": raw["name"], "parent_id": raw["parent"], "path": raw["path"],
                  "region_code": raw["region_code"], "status": raw["status"]}
        if node is None:
            session.add(Node(id=raw["id"], **values))
            counts["nodes"] += 1
        elif any(getattr(node, k) != v for k, v in values.items()):
            for key, value in values.items():
                setattr(node, key, value)
            counts["nodes"] += 1
        session.flush()
    for raw in payload.get("units", []):
        # The units as the office keeps them: a station it added, a name it changed (a spoke never edits them).
        unit = session.get(Unit, raw["id"])
        values = {f: raw[f] for f in UNIT_FIELDS if f in raw}
        if unit is None:
            session.add(Unit(id=raw["id"], **values))
            counts["units"] += 1
        elif any(getattr(unit, k) != v for k, v in values.items()):
            for key, value in values.items():
                setattr(unit, key, value)
            counts["units"] += 1
    seen: set[uuid.UUID] = set()
    for raw in payload.get("users", []):
        if raw.get("node") != own_node:
            continue  # never keep another node's accounts, whatever arrives
        user_id = uuid.UUID(raw["id"])
        seen.add(user_id)
        values = {f: raw[f] for f in USER_FIELDS}
        values["deleted_at"] = utcnow() if raw.get("deleted") else None
        user = session.get(User, user_id)
        if user is None:
            # A copy made at an earlier online login may hold the name under its hub id already.
            user = User(id=user_id, node_id=own_node, **values)
            session.add(user)
            counts["users"] += 1
        elif any(getattr(user, k) != v for k, v in values.items() if k != "deleted_at") or \
                (user.deleted_at is None) != (values["deleted_at"] is None):
            for key, value in values.items():
                if key == "deleted_at" and (user.deleted_at is None) == (value is None):
                    continue
                setattr(user, key, value)
            counts["users"] += 1
    # Own accounts the hub no longer lists cannot log in offline any more.
    for user in session.scalars(select(User).where(User.node_id == own_node, User.active.is_(True))):
        if user.id not in seen:
            user.active = False
            counts["users"] += 1
    if "settings" in payload:
        counts["settings"] = settings.replace_all(session, payload["settings"])
    session.flush()
    if any(counts.values()):
        audit.record(session, own_node, "sync.directory", actor=f"node:{own_node}"[:64], entity_type="node",
                     entity_id=own_node, detail=counts)
    return counts


def keep_checkpoint(data_dir: Path, checkpoint: str | None) -> bool:
    """Append the hub's audit checkpoint to the witness file unless it is the one kept last; whether it was kept.
    Not checked here: the verifier checks its signature against the hub's keys, and a forged one only fails there."""
    if not checkpoint or not isinstance(checkpoint, str):
        return False
    path = data_dir / CHECKPOINTS_FILE
    if _last_line(path).get("jws") == checkpoint:
        return False
    line = json.dumps({"received_at": utcnow().isoformat(), "jws": checkpoint}, separators=(",", ":")) + "\n"
    with open(path, "a", encoding="utf-8") as out:
        out.write(line)
        out.flush()
        os.fsync(out.fileno())
    return True


def _last_line(path: Path) -> dict[str, Any]:
    # Only the file's tail is read: the file grows by a line every few minutes for the life of the spoke.
    try:
        with open(path, "rb") as held:
            held.seek(0, os.SEEK_END)
            size = held.tell()
            held.seek(max(0, size - 65536))
            tail = held.read().splitlines()
    except FileNotFoundError:
        return {}
    for raw in reversed(tail):
        if raw.strip():
            try:
                found = json.loads(raw)
            except ValueError:
                return {}
            return found if isinstance(found, dict) else {}
    return {}
