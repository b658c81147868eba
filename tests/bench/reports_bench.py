"""Benchmark of the reports (common/reports/) on a PostgreSQL hub: a quarterly scorecard compiled over many cases,
and a 20-page PDF.

Seeds by COPY (sync/bulk.py `insert_rows`) a year of cases (2026) spread evenly, each accepted by the office,
dispatched to one of ten units with its deadlines in the dispatch's details, signed (one in seven late), commented on
by the unit and reported back; one in twenty returned and dispatched again: five events a case, as the issue's hub of
1,000,000 cases and 5,000,000 events. Then times:
  quarterly compile — `compile_report(session, "quarterly", "2026-Q4")` (a quarter of the cases: per-unit scorecard,
                      per-sub-center visits, cases and risk information), target ≤ 10 s;
  PDF               — the scorecard's PDF made long enough to fill 20 A4 pages, target ≤ 3 s;
  /stats            — the statistics page (a year of requests, visits and on-time rates, all of this hub's cases in
                      its window) for the office and a liaison, p95 server time, target ≤ 100 ms, beside /healthz.
Prints one `name: value unit` line per figure.

    python tests/bench/reports_bench.py [--cases 1000000] [--url postgresql+psycopg://...]
"""
from __future__ import annotations

import argparse
import os
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
from common.db import Database  # noqa: E402
from common.migrate import upgrade  # noqa: E402
from common.models import Case, CaseEvent, CaseUnit  # noqa: E402
from common.orm import new_id  # noqa: E402
from common.reference import UNITS  # noqa: E402
from common.settings import Settings  # noqa: E402
from sync import bulk  # noqa: E402

YEAR_START = datetime(2025, 12, 31, 16, 0, tzinfo=UTC)  # 2026-01-01 00:00 in Beijing
YEAR = timedelta(days=365)
BATCH = 50_000


def _case(n: int, unit: str, created: datetime) -> dict[str, Any]:
    return {"id": new_id(), "node_id": "hub", "number": f"HUB-2026-{n:07d}", "enterprise_id": None,
            "channel": "hotline", "category": "economic_dispute", "urgency": "routine", "jurisdiction": "local",
            "title": f"基准案件 {n}", "description": "", "details": {}, "status": "reported", "emergency": False,
            "lead_unit": unit, "reported_by": None, "created_at": created, "updated_at": created, "version": n + 1,
            "field_versions": {}, "deleted_at": None, "pushed_by": None, "pushed_version": None}


def _event(case_id: uuid.UUID, kind: str, unit: str | None, at: datetime, n: int,
           details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"id": new_id(), "node_id": "hub", "case_id": case_id, "kind": kind, "unit": unit, "note": "",
            "satisfaction": None, "actor_id": None, "actor_role": "office" if kind in ("accepted", "dispatched") else "liaison",
            "actor_unit": None if kind in ("accepted", "dispatched") else unit, "actor_leader": False, "at": at,
            "details": details or {}, "created_at": at, "updated_at": at, "version": n, "field_versions": {},
            "deleted_at": None, "pushed_by": None, "pushed_version": None}


def _dispatch(case_id: uuid.UUID, unit: str, at: datetime, n: int, late: bool, out: list[dict[str, Any]]) -> None:
    sign_by, report_by = at + timedelta(hours=4), at + timedelta(days=5)
    out.append(_event(case_id, "dispatched", unit, at, n, {"sign_by": sign_by.isoformat(),
                                                           "report_by": report_by.isoformat(), "basis": "clock"}))
    out.append(_event(case_id, "signed", unit, at + timedelta(hours=6 if late else 1), n + 1))
    out.append(_event(case_id, "reported", unit, at + timedelta(days=3), n + 2))


def seed(db: Database, cases: int) -> None:
    units = [u for u, _, _ in UNITS][:10]
    from hub.seed import seed_accounts, seed_reference_nodes

    with db.transaction() as session:
        ensure_reference_data(session, Settings())
        seed_reference_nodes(session)
        seed_accounts(session)  # the demo's accounts, to open the statistics page as the office and a liaison
    step = YEAR / cases
    version = 10_000_000
    for start in range(0, cases, BATCH):
        rows: list[dict[str, Any]] = []
        unit_rows: list[dict[str, Any]] = []
        event_rows: list[dict[str, Any]] = []
        for n in range(start, min(start + BATCH, cases)):
            unit = units[n % len(units)]
            created = YEAR_START + step * n
            row = _case(n, unit, created)
            rows.append(row)
            version += 8
            event_rows.append(_event(row["id"], "accepted", None, created + timedelta(minutes=10), version - 1))
            at = created + timedelta(minutes=20)
            if n % 20 == 0:  # returned, then given to the next unit
                event_rows.append(_event(row["id"], "dispatched", unit, at, version, {
                    "sign_by": (at + timedelta(hours=4)).isoformat(), "report_by": (at + timedelta(days=5)).isoformat()}))
                event_rows.append(_event(row["id"], "returned", unit, at + timedelta(hours=1), version + 1))
                unit = units[(n + 1) % len(units)]
                at += timedelta(hours=2)
            _dispatch(row["id"], unit, at, version + 2, n % 7 == 0, event_rows)
            event_rows.append(_event(row["id"], "comment", unit, at + timedelta(days=1), version + 5))
            # The unit row as the projection writes it (common/cases/service.py `project`): its deadlines and times.
            unit_rows.append({"case_id": row["id"], "unit_id": unit, "lead": True, "active": True, "signed": True,
                              "reported": True, "sign_by": at + timedelta(hours=4), "report_by": at + timedelta(days=5),
                              "next_check": None, "dispatched_at": at,
                              "signed_at": at + timedelta(hours=6 if n % 7 == 0 else 1), "reported_at": at + timedelta(days=3)})
        with db.transaction() as session:
            bulk.insert_rows(session, Case.__table__, rows)
            bulk.insert_rows(session, CaseUnit.__table__, unit_rows)
            bulk.insert_rows(session, CaseEvent.__table__, event_rows)
    with db.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))


def bench(url: str, cases: int, rounds: int = 40) -> None:
    from common.reports import documents, service

    upgrade(url)
    db = Database.connect(url)
    try:
        with db.reads() as session:
            seeded = session.scalar(select(func.count()).select_from(Case))
        if seeded == 0:  # a database given with --url and seeded by an earlier run is used as it is
            started = time.perf_counter()
            seed(db, cases)
            print(f"reports_seed_{cases}_cases: {time.perf_counter() - started:.1f} s")
        with db.reads() as session:
            assert session.scalar(select(func.count()).select_from(Case)) == cases
            events = session.scalar(select(func.count()).select_from(CaseEvent))
        print(f"reports_seed_events: {events} rows")
        started, cpu = time.perf_counter(), time.process_time()
        with db.transaction() as session:
            # Compiled again on a database seeded by an earlier run (the report is still a draft there).
            report, made = service.compile_report(session, "quarterly", "2026-Q4",
                                                  datetime(2027, 1, 1, 0, 0, tzinfo=UTC), recompile=True)
            assert made
            dispatched = sum(u["dispatched"] for u in report.figures["units"])
            session.expunge(report)
        print(f"reports_quarterly_compile_{cases}_cases: {time.perf_counter() - started:.2f} s")
        print(f"reports_quarterly_dispatches_judged: {dispatched} dispatches")
        print(f"reports_host_load: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        from weasyprint import HTML

        repeat, pages = 1, 0
        while pages < 20:
            pages = len(HTML(string=documents.html(report, repeat)).render().pages)
            if pages < 20:
                repeat = max(repeat + 1, int(repeat * 20 / max(pages, 1)))
        started, cpu = time.perf_counter(), time.process_time()
        pdf = documents.pdf(report, repeat)
        print(f"reports_pdf_{pages}_pages: {time.perf_counter() - started:.2f} s")
        print(f"reports_pdf_{pages}_pages_cpu: {time.process_time() - cpu:.2f} s")
        print(f"reports_pdf_size: {len(pdf) // 1024} KiB")
        stats_page(url, rounds)
    finally:
        db.dispose()


def stats_page(url: str, rounds: int) -> None:
    """/stats server time (the app's Server-Timing) for the office and a liaison, against /healthz in the same run.

    The window is the twelve months up to today: on this hub, every case of the year is in it."""
    from litestar.testing import TestClient

    from hub.app import create_app

    with tempfile.TemporaryDirectory(prefix="lianfu-stats-bench-") as work:
        settings = Settings(role="hub", node_id="hub", data_dir=Path(work), db_url=url, secret_key="bench" * 8,
                            cookie_secure=False)
        for username, paths in (("office", ["/healthz", "/stats"]), ("liaison_jz", ["/stats"])):
            with TestClient(create_app(settings), base_url="http://bench.local") as client:
                token = client.get("/login").text.split('name="csrf_token" value="')[1].split('"')[0]
                answer = client.post("/login", data={"username": username, "password": "lianfu-demo", "csrf_token": token},
                                     follow_redirects=False)
                assert answer.status_code == 303, answer.text
                for path in paths:
                    times = []
                    for i in range(rounds + 3):  # the first three compile the SQL and the templates
                        answer = client.get(path)
                        assert answer.status_code == 200, (path, answer.status_code)
                        if i >= 3:
                            times.append(float(answer.headers["server-timing"].split("dur=")[1]))
                    times.sort()
                    name = "healthz" if path == "/healthz" else f"stats_{username}"
                    print(f"reports_{name}_p50: {times[len(times) // 2]:.1f} ms")
                    print(f"reports_{name}_p95: {times[max(0, int(len(times) * 0.95) - 1)]:.1f} ms")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=40, help="requests of /stats per account")
    parser.add_argument("--url", help="a PostgreSQL database to use, empty or seeded by an earlier run with the same "
                                      "--cases (default: a server started here)")
    args = parser.parse_args(argv)
    if args.url:
        bench(args.url, args.cases, args.rounds)
        return
    from pgserver import PostgresServer, find_pg_bin

    if find_pg_bin() is None:
        print("reports: skipped (no PostgreSQL binaries)")
        return
    with tempfile.TemporaryDirectory(prefix="lianfu-reports-bench-") as work:
        Path(work).chmod(0o755)
        with PostgresServer(Path(work) / "pg") as server:
            bench(server.create_database("lianfu_reports_bench"), args.cases, args.rounds)


if __name__ == "__main__":
    main()
