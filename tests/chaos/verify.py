"""After the faults: rounds until every queue is empty, then the checks, row by row.

* every spoke holds exactly the hub's rows of its scope (same ids, same content), and nothing outside it;
* every accepted write is at the hub once (and at the spoke of its node), a refused one nowhere, an unknown one at
  most once; the last accepted value of every edited field is the one that stands;
* the photos of accepted visits reached the hub, which serves their bytes.
"""
from __future__ import annotations

import hashlib
import sqlite3
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import select

from common import policy
from common.db import Database
from sync.entities import ENTITIES
from sync.hub.scope import spoke_principal
from tests.chaos.workload import Ledger, Write
from tests.chaos.world import World

PULLED = [entity for entity in ENTITIES if entity.pull]
# What each node keeps for itself (its own clock of a row's last change, its merge bookkeeping, whose push made it).
OWN = ("updated_at", "field_versions", "pushed_by", "pushed_version")
# Where each kind of write carries its token.
TOKEN_FIELD = {"enterprise": "name", "person": "name", "case_record": "title", "case_event": "note",
               "visit": "findings"}
QUIET_LIMIT = 60.0


def spoke_file(world: World, node: str) -> Path:
    assert world.fed is not None
    return world.fed.spoke_dir(node) / "lianfu.db"


def outbox(world: World, node: str) -> int:
    connection = sqlite3.connect(f"file:{spoke_file(world, node)}?mode=ro", uri=True, timeout=30)
    try:
        return int(connection.execute("SELECT COUNT(*) FROM sync_outbox").fetchone()[0])
    finally:
        connection.close()


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).astimezone(timezone.utc).isoformat()
    return value


def hub_rows(db: Database, node: str) -> dict[str, dict[str, dict[str, Any]]]:
    """Per pulled entity, the hub's rows in a spoke's scope, by id, without what each node keeps for itself."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    with db.reads() as session:
        spoke = spoke_principal(session, node)
        for entity in PULLED:
            found = session.execute(select(entity.table).where(policy.in_scope(entity.model, spoke))).mappings()
            out[entity.name] = {str(r["id"]): {k: _plain(v) for k, v in r.items() if k not in OWN} for r in found}
    return out


def spoke_rows(path: Path) -> dict[str, dict[str, dict[str, Any]]]:
    db = Database.connect(f"sqlite:///{path}", foreign_keys=False)
    try:
        out: dict[str, dict[str, dict[str, Any]]] = {}
        with db.reads() as session:
            for entity in PULLED:
                found = session.execute(select(entity.table)).mappings()
                out[entity.name] = {str(r["id"]): {k: _plain(v) for k, v in r.items() if k not in OWN} for r in found}
        return out
    finally:
        db.dispose()


def versions(rows: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    return {name: {row_id: row["version"] for row_id, row in table.items()} for name, table in rows.items()}


def compare(spoke: dict[str, dict[str, dict[str, Any]]], hub: dict[str, dict[str, dict[str, Any]]],
            limit: int = 5) -> tuple[int, list[dict[str, Any]]]:
    """Rows compared, and each difference (a few of each kind per entity, with the rows themselves)."""
    compared = 0
    found: list[dict[str, Any]] = []
    for name, theirs in hub.items():
        mine = spoke.get(name, {})
        compared += len(theirs.keys() | mine.keys())
        missing = sorted(theirs.keys() - mine.keys())
        extra = sorted(mine.keys() - theirs.keys())
        differ = sorted(k for k in theirs.keys() & mine.keys() if theirs[k] != mine[k])
        for problem, keys in (("missing at the spoke", missing), ("at the spoke, not in its scope at the hub", extra),
                              ("differs", differ)):
            for key in keys[:limit]:
                detail: dict[str, Any] = {"entity": name, "id": key, "problem": problem}
                if problem == "differs":
                    detail["fields"] = {f: {"hub": theirs[key].get(f), "spoke": mine[key].get(f)}
                                        for f in sorted(theirs[key].keys() | mine[key].keys())
                                        if theirs[key].get(f) != mine[key].get(f)}
                elif problem == "missing at the spoke":
                    detail["hub_row"] = theirs[key]
                else:
                    detail["spoke_row"] = mine[key]
                found.append(detail)
            if len(keys) > limit:
                found.append({"entity": name, "problem": problem, "more": len(keys) - limit})
    return compared, found


def settled(world: World, db: Database, node: str) -> bool:
    """The spoke's outbox empty and its rows the hub's rows of its scope, version for version."""
    if outbox(world, node) != 0:
        return False
    return versions(spoke_rows(spoke_file(world, node))) == versions(hub_rows(db, node))


def quiet(world: World, db: Database, log: Callable[[str], None], limit: float = QUIET_LIMIT) -> dict[str, Any]:
    """Rounds, asked for at each spoke's sync page as a person would (a round there waits for a scheduled one
    under way), until every spoke is settled at once; how long it took, or that it did not within `limit`.

    Every spoke is looked at again on each pass, and a pass that finds all settled is taken again before it counts:
    one found settled turns stale when another spoke of its scope (a workstation under its sub-center) pushes its
    last changes after it was looked at."""
    started = time.monotonic()
    waiting = sorted(world.spokes)
    asked: dict[str, int] = dict.fromkeys(waiting, 0)
    last_ask: dict[str, float] = {}
    confirmed = False
    while time.monotonic() - started < limit:
        waiting = [node for node in sorted(world.spokes) if not settled(world, db, node)]
        if not waiting:
            if confirmed:
                break
            confirmed = True
            continue
        confirmed = False
        for node in waiting:
            if time.monotonic() - last_ask.get(node, 0.0) > 2.0:
                spoke = world.spokes[node]
                assert spoke.client is not None
                try:
                    spoke.client.post(f"{spoke.url}/sync/run", data={"csrf_token": spoke.csrf},
                                      headers={"HX-Request": "true"})
                    asked[node] += 1
                except Exception as exc:  # noqa: BLE001 - the spoke is asked again shortly
                    log(f"quiet: asking {node} for a round failed: {type(exc).__name__}: {exc}")
                last_ask[node] = time.monotonic()
        if waiting:
            time.sleep(0.5)
    seconds = round(time.monotonic() - started, 1)
    return {"seconds": seconds, "settled": not waiting, "unsettled": waiting, "rounds_asked": asked,
            "outboxes": {node: outbox(world, node) for node in world.spokes}}


def _count_by_token(rows: dict[str, dict[str, Any]], field: str, token: str) -> list[str]:
    return [row_id for row_id, row in rows.items() if token in str(row.get(field) or "")]


def check_ledger(world: World, db: Database, ledger: Ledger,
                 at_spokes: dict[str, dict[str, dict[str, dict[str, Any]]]]) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Each write against the hub's whole database and the spoke of its node."""
    with db.reads() as session:
        hub_all = {entity: {str(r["id"]): {k: _plain(v) for k, v in r.items()}
                            for r in session.execute(select(e.table)).mappings()}
                   for entity, e in ((e.name, e) for e in PULLED if e.name in TOKEN_FIELD)}
    problems: list[dict[str, Any]] = []
    checked = {"creates": 0, "edits": 0}
    edits: dict[tuple[str, str, str], list[Write]] = {}
    for write in ledger.writes:
        if write.field_name is not None:
            edits.setdefault((write.entity, str(write.row_id), write.field_name), []).append(write)
            continue
        checked["creates"] += 1
        field = TOKEN_FIELD[write.entity]
        at_hub = _count_by_token(hub_all[write.entity], field, write.token)
        spoke = at_spokes.get(write.target_node)
        at_spoke = _count_by_token(spoke[write.entity], field, write.token) if spoke is not None else None
        wrong = ""
        if write.status == "accepted":
            if len(at_hub) != 1:
                wrong = f"accepted, {len(at_hub)} at the hub"
            elif write.row_id and at_hub != [write.row_id]:
                wrong = f"accepted as {write.row_id}, at the hub as {at_hub}"
            elif at_spoke is not None and at_spoke != at_hub:
                wrong = f"accepted, at the hub as {at_hub}, at {write.target_node} as {at_spoke}"
        elif write.status == "refused" and at_hub:
            wrong = f"refused ({write.http_status}), yet at the hub as {at_hub}"
        elif write.status == "unknown" and len(at_hub) > 1:
            wrong = f"outcome unknown, {len(at_hub)} at the hub"
        if not wrong and write.status == "accepted" and write.action == "create_visit" and at_hub:
            wrong = _photo_problem(world, db, at_hub[0], write)
        if wrong:
            problems.append({"write": write.as_dict(), "problem": wrong})
    for (entity, row_id, field), writes in edits.items():
        checked["edits"] += len(writes)
        row = hub_all[entity].get(row_id)
        if row is None:
            if any(w.status == "accepted" for w in writes):
                problems.append({"write": writes[-1].as_dict(), "problem": "edited row not at the hub"})
            continue
        final = row.get(field)
        accepted = [i for i, w in enumerate(writes) if w.status == "accepted"]
        after = writes[accepted[-1] + 1:] if accepted else writes
        allowed = {w.token for w in after if w.status == "unknown"}
        if accepted:
            allowed.add(writes[accepted[-1]].token)
        refused = {w.token for w in writes if w.status == "refused"}
        if final in refused or (accepted and final not in allowed) or (
                not accepted and final in {w.token for w in writes} - allowed):
            problems.append({"write": writes[-1].as_dict(), "problem": f"{field} is {final!r} at the hub, expected one "
                             f"of {sorted(allowed) or ['(unchanged)']}", "history": [w.as_dict() for w in writes],
                             "hub_audit": audit_of(db, row_id), "hub_row": row})
    for problem in problems:
        row_id = problem["write"].get("row_id")
        if row_id and "hub_audit" not in problem:
            problem["hub_audit"] = audit_of(db, row_id)
    return checked, problems


def audit_of(db: Database, entity_id: str) -> list[dict[str, Any]]:
    """What the hub's audit trail says of a row: who did what, where, when (the clue to where a write went)."""
    from common.models import AuditEntry

    with db.reads() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.entity_id == str(entity_id))
                                  .order_by(AuditEntry.at))
        return [{"node": e.node_id, "seq": e.seq, "at": _plain(e.at), "actor": e.actor, "action": e.action,
                 "detail": e.detail} for e in entries]


def _photo_problem(world: World, db: Database, visit_id: str, write: Write) -> str:
    """The visit's one photo is at the hub, and the hub serves its bytes (fetched as the office)."""
    from common.models import Attachment

    assert world.fed is not None and world.office is not None
    with db.reads() as session:
        found = session.execute(select(Attachment.id, Attachment.sha256)
                                .where(Attachment.entity_id == uuid.UUID(visit_id))).all()
    wanted = write.extra.get("photo_sha256")
    if [sha for _, sha in found] != [wanted]:
        return f"accepted visit {visit_id}: attachments at the hub {[sha for _, sha in found]}, expected [{wanted}]"
    served = world.office.get(f"{world.fed.hub_url}/attachments/{found[0][0]}")
    if served.status_code != 200 or hashlib.sha256(served.content).hexdigest() != wanted:
        return f"accepted visit {visit_id}: the hub serves its photo with {served.status_code}, not the bytes sent"
    return ""
