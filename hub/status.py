"""What `lianfu hub status` tells an operator: release, schema revision against the code's, the database (never its
password), the hub hosts seen recently and the scheduled jobs. It reads; it migrates nothing."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import exc as sa_exc, inspect, text
from sqlalchemy.engine import make_url

from common.db import Database
from common.ops.version import package_version, schema_head


def describe_database(url: str) -> dict[str, Any]:
    """Kind and place of a database URL, without its password."""
    parsed = make_url(url)
    kind = "postgresql" if parsed.get_backend_name().startswith("postgres") else parsed.get_backend_name()
    if kind == "sqlite":
        return {"kind": "sqlite", "path": parsed.database or ":memory:"}
    return {"kind": kind, "host": parsed.host or "localhost", "port": parsed.port, "name": parsed.database,
            "user": parsed.username}


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).isoformat()


def schema_state(db: Database) -> dict[str, Any]:
    """The database's revision and the code's; first reaches the database (an unreachable one raises here)."""
    expected = schema_head()
    with db.engine.connect() as conn:
        found: list[str] = []
        if inspect(conn).has_table("alembic_version"):
            found = sorted(row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version")))
    current = ",".join(found) or None
    if current is None:
        verdict = "not migrated"
    elif found == [expected]:
        verdict = "up to date"
    else:
        verdict = "differs from the code (run `lianfu hub migrate`, or this release is older than the database)"
    return {"current": current, "expected": expected, "up_to_date": found == [expected], "verdict": verdict}


def _jobs(db: Database) -> list[dict[str, Any]]:
    from hub.jobs import job_rows

    rows = job_rows(db)
    jobs = []
    for job, row in rows:
        outcome = None
        if row is not None and row.last_finished_at is not None:
            outcome = "failed" if row.last_error else "ok"
        jobs.append({"name": job.name, "interval_seconds": job.interval,
                     "last_run_at": _iso(row.last_started_at) if row else None,
                     "last_finished_at": _iso(row.last_finished_at) if row else None,
                     "next_run_at": _iso(row.next_run_at) if row else None,
                     "last_outcome": outcome, "last_error": (row.last_error or None) if row else None,
                     "runs": row.runs if row else 0})
    return jobs


def gather(db: Database, url: str) -> dict[str, Any]:
    from hub.hosts import recent_hosts

    schema = schema_state(db)
    status: dict[str, Any] = {"version": package_version(), "schema": schema, "database": describe_database(url)}
    try:
        status["hosts"] = recent_hosts(db)
    except (sa_exc.ProgrammingError, sa_exc.OperationalError):
        status["hosts"] = []  # the table comes with revision 0030: an older database has none yet
    try:
        status["jobs"] = _jobs(db)
    except (sa_exc.ProgrammingError, sa_exc.OperationalError):
        status["jobs"] = []
    return status
