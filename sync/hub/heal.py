"""A restored hub healed by a spoke: the rows of its scope sent again, each kept where the hub lacks it or holds an
older version of it.

The rows come back because the hub held them once (a spoke holds only what it wrote and the hub acknowledged, or
what it pulled from the hub), so they are not checked again against their writers: only against the spoke's scope.
A field is taken when the spoke's version of it is newer than the hub's (the engine's order of field versions);
otherwise the hub's stays, and the spoke pulls it back. Nothing is recorded as a conflict: both sides were merged
once already, before the hub lost them.
"""
from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from common.audit import trail as audit
from common.cases import service as case_service
from common.clock import clock
from common.models import Case, SyncMove, utcnow
from common.policy import Principal
from sync import bulk
from sync.entities import BY_NAME, RANK, Entity
from sync.hub.rows import clean_versions, field_version
from sync.wire import HealAnswer, HealRow

# Never taken from a heal row: the hub stamps its own.
NOT_TAKEN = frozenset({"version", "field_versions", "pushed_by", "pushed_version"})


def apply_heal(session: Session, spoke: Principal, rows: list[HealRow]) -> HealAnswer:
    """Rows of the spoke's scope sent again; in the caller's transaction."""
    answer = HealAnswer()
    by_entity: dict[str, list[HealRow]] = defaultdict(list)
    for row in rows:
        by_entity[row.entity].append(row)
    touched_cases: set[uuid.UUID] = set()
    for name in sorted(by_entity, key=lambda n: RANK.get(n, len(RANK))):
        entity = BY_NAME.get(name)
        if entity is None or not entity.push:
            answer.refused += len(by_entity[name])
            continue
        _heal_entity(session, spoke, entity, by_entity[name], answer, touched_cases)
    for case_id in touched_cases:
        case = session.get(Case, case_id)
        if case is not None:
            case_service.project(session, case, case_service.case_state(session, case_id))
    return answer


def _in_scope(entity: Entity, spoke: Principal, node_id: Any) -> bool:
    if entity.name == "audit_entry":
        return node_id == spoke.node_id
    return node_id in spoke.subtree


def _heal_entity(session: Session, spoke: Principal, entity: Entity, rows: list[HealRow], answer: HealAnswer,
                 touched_cases: set[uuid.UUID]) -> None:
    table = entity.table
    decoded: dict[uuid.UUID, tuple[dict[str, Any], dict[str, Any]]] = {}
    for row in rows:
        try:
            values = entity.decode({k: v for k, v in row.values.items() if k not in NOT_TAKEN}, strict=True)
            row_id = values["id"]
            if not isinstance(row_id, uuid.UUID) or not _in_scope(entity, spoke, values.get("node_id")):
                raise ValueError("outside the node's scope")
        except (ValueError, TypeError, KeyError):
            answer.refused += 1
            continue
        decoded[row_id] = (values, clean_versions(row.fv))
    if not decoded:
        return
    existing = {row["id"]: row for row in bulk.rows_by_ids(session, table, list(decoded), lock=True)}
    taken_seqs: set[int] = set()
    if entity.name == "audit_entry":
        # A node's chain has one entry per number: an entry the hub holds under its number is never added twice.
        taken_seqs = set(session.scalars(select(table.c.seq).where(
            table.c.node_id == spoke.node_id, table.c.seq.in_([v["seq"] for v, _ in decoded.values()]))))
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    changed: set[str] = set()
    for row_id, (values, versions) in decoded.items():
        current = existing.get(row_id)
        if current is None:
            if entity.name == "audit_entry" and values.get("seq") in taken_seqs:
                answer.kept += 1
                continue
            made = {**values, "field_versions": versions, "version": clock.now()}
            if "pushed_by" in table.c:
                made.update(pushed_by=None, pushed_version=None)
            inserts.append(made)
            if entity.name == "case_event":
                touched_cases.add(made["case_id"])
            answer.added += 1
            continue
        if entity.append_only or not _in_scope(entity, spoke, current["node_id"]):
            answer.kept += 1  # held here already as it is, or now another node's: the hub's stays
            continue
        held = dict(current["field_versions"] or {})
        taken: dict[str, Any] = {}
        for name in entity.fields:
            incoming = field_version(versions.get(name))
            mine = field_version(held.get(name))
            if incoming is None or name not in values or (mine is not None and mine >= incoming):
                continue
            held[name] = list(incoming)
            if current[name] != values[name]:
                taken[name] = values[name]
        if held == (current["field_versions"] or {}):
            answer.kept += 1
            continue
        version = clock.now()
        if "node_id" in taken and taken["node_id"] != current["node_id"]:
            # Moved since the backup: the node it left drops it, as after any move.
            session.add(SyncMove(entity=entity.name, row_id=str(row_id), from_node=current["node_id"],
                                 to_node=taken["node_id"], version=version))
        current.update(taken, field_versions=held, version=version, updated_at=utcnow())
        if "pushed_by" in current:
            current.update(pushed_by=None, pushed_version=None)
        changed.update(taken)
        updates.append(current)
        if entity.name == "case_record":
            touched_cases.add(row_id)
        answer.updated += 1
    if inserts:
        _insert(session, table, inserts, answer)
    if updates:
        names = [*(name for name in entity.fields if name in changed), "field_versions", "version", "updated_at"]
        if "pushed_by" in table.c:
            names += ["pushed_by", "pushed_version"]
        bulk.update_rows(session, table, updates, names)


def _insert(session: Session, table: Any, inserts: list[dict[str, Any]], answer: HealAnswer) -> None:
    """The rows the hub lacked, in bulk; when the database refuses the batch (a row whose parent the hub lacks and
    no spoke sent), row by row, each one it refuses counted as refused and the rest kept."""
    by_keys: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for made in inserts:
        by_keys[tuple(sorted(made))].append(made)
    for group in by_keys.values():
        try:
            with session.begin_nested():
                bulk.insert_rows(session, table, group)
        except IntegrityError:
            for made in group:
                try:
                    with session.begin_nested():
                        bulk.insert_rows(session, table, [made])
                except IntegrityError:
                    answer.added -= 1
                    answer.refused += 1


def record_heal(session: Session, hub_node: str, spoke: Principal, totals: dict[str, int], from_lineage: str) -> None:
    """The heal in the hub's trail: how many rows the spoke sent again, and how many of them the hub took."""
    audit.record(session, hub_node, "sync.healed", actor=spoke.username[:64], entity_type="node",
                 entity_id=spoke.node_id, detail={"node": spoke.node_id, **totals, "from_lineage": from_lineage[:64]})
