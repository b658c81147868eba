"""Benchmark of the escalation job (common/cases/escalation.py) on PostgreSQL: 1,000,000 cases of which 100,000 open.

Seeds by COPY (sync/bulk.py `insert_rows`): closed cases with their unit row and one event each, open urgent cases
dispatched to a unit (accepted and dispatched events, the dispatch's deadlines in its details), signed, their report
back due over the next 30 days. Then times one run of the job:
  steady  — one minute after the seed's moment, as the scheduler runs it every minute;
  backlog — the moment when 1% of the open dispatches (1,000) have come due at once (a hub down for hours):
            reminders, 催办 events and their notices written for each.
Prints one `name: value unit` line per figure.

    python tests/bench/escalation_bench.py [--cases 1000000] [--open 100000] [--url postgresql+psycopg://...]
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/ for pgserver
sys.path.insert(0, str(HERE.parents[1]))  # the project

from sqlalchemy import func, select, text  # noqa: E402

from common.bootstrap import ensure_reference_data  # noqa: E402
from common.cases import escalation  # noqa: E402
from common.db import Database  # noqa: E402
from common.migrate import upgrade  # noqa: E402
from common.models import Case, CaseEvent, CaseUnit, User  # noqa: E402
from common.orm import new_id  # noqa: E402
from common.reference import UNITS  # noqa: E402
from common.settings import Settings  # noqa: E402
from sync import bulk  # noqa: E402

T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
BATCH = 50_000
SPAN = timedelta(days=30)


def _case(n: int, status: str, unit: str, created: datetime) -> dict[str, Any]:
    return {"id": new_id(), "node_id": "hub", "number": f"HUB-2026-{n:07d}", "enterprise_id": None,
            "channel": "hotline", "category": "economic_dispute", "urgency": "urgent", "jurisdiction": "local",
            "title": f"基准案件 {n}", "description": "", "details": {}, "status": status, "emergency": False,
            "lead_unit": unit, "reported_by": None, "created_at": created, "updated_at": created, "version": n + 1,
            "field_versions": {}, "deleted_at": None, "pushed_by": None, "pushed_version": None}


def _event(case_id: uuid.UUID, kind: str, unit: str | None, at: datetime, n: int,
           details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"id": new_id(), "node_id": "hub", "case_id": case_id, "kind": kind, "unit": unit, "note": "",
            "satisfaction": None, "actor_id": None, "actor_role": "office" if kind != "signed" else "liaison",
            "actor_unit": unit if kind == "signed" else None, "actor_leader": False, "at": at, "details": details or {},
            "created_at": at, "updated_at": at, "version": n, "field_versions": {}, "deleted_at": None,
            "pushed_by": None, "pushed_version": None}


def seed(db: Database, cases: int, open_cases: int, rng: random.Random) -> None:
    units = [u for u, _, _ in UNITS][:10]
    with db.transaction() as session:
        ensure_reference_data(session, Settings())
        for unit in units:  # two liaison officers per unit, told of the reminders and 催办
            for i in range(2):
                session.add(User(username=f"bench_{unit}_{i}", role="liaison", node_id="hub", unit_id=unit,
                                 display_name="联络员", password_hash="x"))
    closed = cases - open_cases
    version = 10_000_000
    for start in range(0, cases, BATCH):
        rows: list[dict[str, Any]] = []
        unit_rows: list[dict[str, Any]] = []
        event_rows: list[dict[str, Any]] = []
        for n in range(start, min(start + BATCH, cases)):
            unit = units[n % len(units)]
            version += 3
            if n < closed:
                created = T0 - timedelta(days=400) + timedelta(seconds=n * 30)
                row = _case(n, "closed", unit, created)
                unit_rows.append({"case_id": row["id"], "unit_id": unit, "lead": True, "active": True, "signed": True,
                                  "reported": True, "sign_by": None, "report_by": None, "next_check": None})
                event_rows.append(_event(row["id"], "filed", None, created + timedelta(days=3), version))
            else:
                # Signed, its report back due between T0 and T0 + 30 days: the job's next look is 2 h before it.
                next_check = T0 + SPAN * rng.random()
                report_by = next_check + timedelta(hours=2)
                dispatched = report_by - timedelta(hours=72)
                row = _case(n, "handling", unit, dispatched - timedelta(minutes=10))
                unit_rows.append({"case_id": row["id"], "unit_id": unit, "lead": True, "active": True, "signed": True,
                                  "reported": False, "sign_by": dispatched + timedelta(hours=2),
                                  "report_by": report_by, "next_check": next_check})
                event_rows.append(_event(row["id"], "accepted", None, dispatched - timedelta(minutes=5), version))
                event_rows.append(_event(row["id"], "dispatched", unit, dispatched, version + 1, {
                    "sign_by": (dispatched + timedelta(hours=2)).isoformat(), "report_by": report_by.isoformat(),
                    "basis": "clock"}))
                event_rows.append(_event(row["id"], "signed", unit, dispatched + timedelta(minutes=30), version + 2))
            rows.append(row)
        with db.transaction() as session:
            bulk.insert_rows(session, Case.__table__, rows)
            bulk.insert_rows(session, CaseUnit.__table__, unit_rows)
            bulk.insert_rows(session, CaseEvent.__table__, event_rows)
    with db.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))


def timed(db: Database, at: datetime) -> tuple[float, dict[str, int]]:
    started = time.perf_counter()
    result = escalation.run(db, None, at)
    return time.perf_counter() - started, result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--open", type=int, default=100_000)
    parser.add_argument("--url", help="an empty PostgreSQL database to use (default: a server started here)")
    args = parser.parse_args(argv)
    if args.url:
        bench(args.url, args.cases, args.open)
        return
    from pgserver import PostgresServer, find_pg_bin

    if find_pg_bin() is None:
        print("escalation: skipped (no PostgreSQL binaries)")
        return
    with tempfile.TemporaryDirectory(prefix="lianfu-esc-bench-") as work:
        Path(work).chmod(0o755)
        with PostgresServer(Path(work) / "pg") as server:
            bench(server.create_database("lianfu_esc_bench"), args.cases, args.open)


def bench(url: str, cases: int, open_cases: int) -> None:
    upgrade(url)
    db = Database.connect(url)
    try:
        started = time.perf_counter()
        seed(db, cases, open_cases, random.Random(7))
        print(f"escalation_seed_{cases}_cases: {time.perf_counter() - started:.1f} s")
        with db.reads() as session:
            assert session.scalar(select(func.count()).select_from(Case)) == cases
        seconds, result = timed(db, T0 + timedelta(minutes=1))
        print(f"escalation_run_steady_{cases}_cases_{open_cases}_open: {seconds:.2f} s")
        print(f"escalation_run_steady_dispatches_read: {result['checked']} rows")
        # The moment 1% of the open dispatches have come due (their next_check spread evenly over 30 days).
        backlog_at = T0 + SPAN * 0.01
        seconds, result = timed(db, backlog_at)
        print(f"escalation_run_backlog_{result['checked']}_due: {seconds:.2f} s")
        print(f"escalation_run_backlog_steps: {result['reminded']} reminders, {result['urged']} urged")
        seconds, result = timed(db, backlog_at)
        print(f"escalation_run_after_backlog: {seconds:.2f} s")
    finally:
        db.dispose()


if __name__ == "__main__":
    main()
