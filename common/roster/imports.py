"""The roster from a workbook: read (`workbook`), every row checked (`import_check`), then all written or none.

The write does not go row by row through the ORM: new rows go in one statement per table (COPY at PostgreSQL),
changed rows in one UPDATE per set of changed columns (sync/bulk.py), each stamped and reported as change capture
would (`sync.capture`), so the rows sync like any other write. It is audited as one entry with its counts.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from common.models import Enterprise, Person
from common.orm import utcnow
from common.policy import Principal
from common.roster.import_check import Plan, Progress, chunks, plan, quiet
from common.roster.workbook import read_workbook
from common.service import audit_write
from sync import bulk, capture

# --- writing it ------------------------------------------------------------------------------------------------

class Stale(Exception):
    """The roster changed between the check and the write."""


def write(session: Session, p: Principal, result: Plan, source: Mapping[str, Any]) -> dict[str, int]:
    """Write a plan without problems in the session's transaction, stamped and reported for sync as change capture
    does for a flush, and audit it as one entry; the counts."""
    assert not result.problems
    _still_as_checked(session, result)
    now = utcnow()
    for table, made, changed, entity in (
            (Enterprise.__table__, result.new_enterprises, result.changed_enterprises, "enterprise"),
            (Person.__table__, result.new_people, result.changed_people, "person")):
        bulk.insert_rows(session, table, [{**capture.stamp_made(session, values), "created_at": now, "updated_at": now}
                                          for values in made])
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        reported = []
        for current, changes in changed:
            columns, prior = capture.stamp_changed(session, current, changes)
            names = tuple(sorted(changes))
            groups.setdefault(names, []).append({**columns, "updated_at": now})
            reported.append((current["id"], list(names), prior))
        for names, rows in groups.items():
            bulk.update_rows(session, table, rows, [*names, "version", "field_versions", "updated_at"])
        capture.bulk_written(session, entity, [values["id"] for values in made], reported, p.user_id)
    counts = result.counts()
    audit_write(session, p, "import", "enterprise", None, {**counts, **source})
    return counts


def _still_as_checked(session: Session, result: Plan) -> None:
    """Every row the plan changes is at the version it was checked at, and no credit code it adds has appeared."""
    for model, changed in ((Enterprise, result.changed_enterprises), (Person, result.changed_people)):
        checked = {current["id"]: current["version"] for current, _ in changed}
        for part in chunks(list(checked)):
            for row_id, version in session.execute(select(model.id, model.version).where(model.id.in_(part))).tuples():
                if checked[row_id] != version:
                    raise Stale()
    codes = [values["credit_code"] for values in result.new_enterprises]
    for part in chunks(codes):
        if session.scalar(select(Enterprise.id).where(Enterprise.credit_code.in_(part),
                                                      Enterprise.deleted_at.is_(None)).limit(1)) is not None:
            raise Stale()


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def run(db: Any, p: Principal, content: bytes, filename: str, dry_run: bool,
        progress: Progress = quiet) -> dict[str, Any]:
    """Read, check and (unless `dry_run` or a row has a problem) write a workbook: the answer the API and the pages
    show. ImportRefused when the file is no roster workbook; Stale when the roster changed under the check."""
    progress("reading", 0, 0)
    sheets = read_workbook(content)
    progress("checking", 0, sheets.total)
    source = {"file": filename[:200], "sha256": digest(content), "rows": sheets.total}
    with db.reads() as session:
        result = plan(session, p, sheets, progress)
    answer = {"dry_run": dry_run, "rows": sheets.total, **result.answer(), "written": False}
    if dry_run or result.problems:
        return answer
    progress("writing", sheets.total, sheets.total)
    try:
        with db.transaction(actor=p) as session:
            write(session, p, result, source)
    except IntegrityError:
        # A credit code added by someone else between the check and the write (the unique index refused it).
        raise Stale() from None
    answer["written"] = True
    return answer


