"""Applying what the hub sends: its rows written over this spoke's, its own unsent edits kept, its drops deleted."""
from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from common.models import Attachment, BulletinAudience, Case, CaseUnit, SyncOutbox
from common.cases import service as case_service
from sync import bulk
from sync.entities import ENTITIES, Entity
from sync.wire import PullAnswer

# Per entity, the columns an UPDATE statement fills in by itself unless they are set (version, updated_at).
ONUPDATE = {entity.name: tuple(c.name for c in entity.table.columns if c.onupdate is not None) for entity in ENTITIES}


def apply_page(session: Session, page: PullAnswer, trust_versions: bool = True) -> None:
    """Write a pulled page's rows: the hub's, with this spoke's own unsent edits kept (see keep_local). With
    `trust_versions`, a row held here at the version it comes with is left alone."""
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    audiences: dict[uuid.UUID, list[str]] = {}
    for row in page.rows:
        grouped[row.entity].append(row.values)
        if row.audience is not None:
            audiences[uuid.UUID(str(row.values["id"]))] = row.audience
    pending = pending_edits(session)
    touched_cases: set[uuid.UUID] = set()
    for entity in ENTITIES:
        raw_rows = grouped.get(entity.name)
        if not raw_rows:
            continue
        raw_rows, local = held(session, entity, raw_rows, trust_versions)
        if not raw_rows:
            continue
        columns = set(entity.columns)
        rows = []
        for raw in raw_rows:
            # A hub one schema ahead may send columns this spoke does not have yet: leave them.
            values = entity.decode({k: v for k, v in raw.items() if k in columns})
            fields = pending.get((entity.name, str(values["id"])))
            if fields is not None:
                values = keep_local(entity, values, local.get(values["id"]), fields)
            rows.append(values)
        upsert(session, entity, rows, local)
        if entity.name == "case_event":
            touched_cases.update(r["case_id"] for r in rows)
    for case_id in touched_cases:
        case = session.get(Case, case_id)
        if case is not None:
            case_service.project(session, case, case_service.case_state(session, case_id))
    if audiences:
        # Whom each bulletin is addressed to here, as the hub resolved it: replaced whole with each copy.
        session.execute(delete(BulletinAudience).where(BulletinAudience.bulletin_id.in_(list(audiences))))
        addressed = [{"bulletin_id": b, "node_id": n} for b, nodes in audiences.items() for n in nodes]
        if addressed:
            session.execute(insert(BulletinAudience), addressed)


def held(session: Session, entity: Entity, raw_rows: list[dict[str, Any]],
          skip_held: bool) -> tuple[list[dict[str, Any]], dict[uuid.UUID, Any]]:
    """The rows this spoke holds with the ids of `raw_rows` (read once, for the upsert to compare with), and
    the rows to write: with `skip_held`, only those it does not hold at the version they come with. A version
    names a row's contents (every write makes a new one, here or at the hub), so a row sent again (a page
    asked again) is left without a decode and a comparison. A malformed id is a malformed answer."""
    try:
        ids = [uuid.UUID(str(raw["id"])) for raw in raw_rows]
    except (KeyError, TypeError) as exc:
        raise ValueError(f"a {entity.name} row without a valid id") from exc
    table = entity.table
    local: dict[uuid.UUID, Any] = {}
    for start in range(0, len(ids), 500):
        local.update((row["id"], row) for row in bulk.rows_by_ids(session, table, ids[start:start + 500]))
    if skip_held:
        raw_rows = [raw for raw, row_id in zip(raw_rows, ids)
                    if row_id not in local or local[row_id]["version"] != raw.get("version")]
    return raw_rows, local


def pending_edits(session: Session) -> dict[tuple[str, str], set[str] | None]:
    """Rows with local changes the hub has not acknowledged yet, and which fields (None: made here)."""
    out: dict[tuple[str, str], set[str] | None] = {}
    for entity, row_id, fields in session.execute(select(SyncOutbox.entity, SyncOutbox.row_id, SyncOutbox.fields)):
        key = (entity, row_id)
        if fields is None or (key in out and out[key] is None):
            out[key] = None
        else:
            out.setdefault(key, set()).update(fields)  # type: ignore[union-attr]
    return out


def keep_local(entity: Entity, values: dict[str, Any], local: Any, fields: set[str] | None) -> dict[str, Any]:
    """The hub's row, but this spoke's own unsent edits stay until the hub has merged them. `local`: the row held
    here (as held read it), or None."""
    if local is None:
        return values
    keep = set(entity.fields) if fields is None else fields
    versions = dict(values.get("field_versions") or {})
    for name in keep:
        values[name] = local[name]
        if (local["field_versions"] or {}).get(name) is not None:
            versions[name] = local["field_versions"][name]
    values["field_versions"] = versions
    return values


def upsert(session: Session, entity: Entity, rows: list[dict[str, Any]], local: dict[uuid.UUID, Any]) -> None:
    """Write the hub's rows: new ones inserted, known ones updated in just the columns that differ (a row sent
    again, or one this spoke sent whose only change is the hub's version, writes little; a search index is
    touched only when a searched column changes), identical ones left alone. `local`: the rows held here with
    these ids, as read in this transaction."""
    table = entity.table
    for start in range(0, len(rows), 500):
        chunk = rows[start:start + 500]
        inserts: list[dict[str, Any]] = []
        updates: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        for values in chunk:
            here = local.get(values["id"])
            if here is None:
                inserts.append(values)
                continue
            changed = [name for name, value in values.items() if name != "id" and here[name] != value]
            if changed:
                # Always written: columns with an on-update default would otherwise take this node's clock.
                changed += [name for name in ONUPDATE.get(entity.name, ()) if name in values and name not in changed]
                updates[tuple(changed)].append(values)
        if inserts:
            names = list(inserts[0])
            statement = sqlite_insert(table)
            statement = statement.on_conflict_do_update(
                index_elements=[table.c.id],
                set_={name: statement.excluded[name] for name in names if name != "id"},
            )
            session.execute(statement, inserts)
        for names, group in updates.items():
            bulk.update_rows(session, table, group, list(names))


def delete_rows(session: Session, entity: Entity, ids: list[uuid.UUID]) -> None:
    """Delete rows that left this spoke, with what this node derived from them (a case's unit assignments, whom a
    bulletin was addressed to here and its files; the node's own reminders and acknowledgements stay its record)."""
    if entity.name == "case_record":
        session.execute(delete(CaseUnit).where(CaseUnit.case_id.in_(ids)))
    elif entity.name == "bulletin":
        session.execute(delete(BulletinAudience).where(BulletinAudience.bulletin_id.in_(ids)))
        session.execute(delete(Attachment).where(Attachment.entity_type == "bulletin", Attachment.entity_id.in_(ids)))
    session.execute(delete(entity.table).where(entity.table.c.id.in_(ids)))
