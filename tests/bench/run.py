"""Benchmarks, run by hand (`make bench`): one `name: value unit` line per figure.

The roster's figures: with 100,000 enterprises (and their people) at the hub, on SQLite and on PostgreSQL,
the roster API list, a `q` search, a filtered list and the /enterprises page — p95 server time and the
number of SQL queries per request.

The exports' figures (`--only export`, or after the SQLite ones): tests/bench/export_bench.py — /enterprises.xlsx
and /people.xlsx of the same SQLite roster, seconds and peak memory.

Sync's figures (`--only sync`, or after the others): tests/bench/sync_bench.py — a real hub server and real
spokes; initial pull, push, no-op rounds as the hub grows, 100 changes both ways, many spokes at one hub.
`--sync-args "..."` passes options to it (see `python tests/bench/sync_bench.py --help`).

The reports' figures (`--only reports`, by hand: its seed of 1,000,000 cases takes minutes):
tests/bench/reports_bench.py — a quarterly scorecard compiled on a PostgreSQL hub, and a 20-page PDF.

The backup's figures (`--only backup`, by hand: 100,000 enterprises and 1 GB of files): tests/bench/backup_bench.py —
`lianfu hub backup` and `restore` against pg_dump and pg_restore of the same database in the same run.
"""
from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/ for pgserver

from litestar.testing import TestClient  # noqa: E402
from sqlalchemy import event, func, select  # noqa: E402

from common.bootstrap import ensure_reference_data  # noqa: E402
from common.db import Database  # noqa: E402
from common.migrate import upgrade  # noqa: E402
from common.models import Enterprise  # noqa: E402
from common.settings import Settings  # noqa: E402


def seed(url: str, enterprises: int) -> float:
    from hub.seed import seed_demo

    upgrade(url)
    database = Database.connect(url)
    started = time.perf_counter()
    with database.transaction() as session:
        ensure_reference_data(session, Settings())
        have = session.scalar(select(func.count()).select_from(Enterprise)) or 0
        if have < enterprises:
            seed_demo(session, enterprises - have)
    if database.dialect == "sqlite":
        with database.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")  # what `lianfu hub serve` does at start
    database.dispose()
    return time.perf_counter() - started


def server_ms(response: Any) -> float:
    """The app's own Server-Timing figure: from the request entering the app to the response starting."""
    return float(response.headers["server-timing"].split("dur=")[1])


def login(app: Any, username: str) -> TestClient:
    client = TestClient(app, base_url="http://bench.local")
    client.__enter__()
    token = client.get("/login").text.split('name="csrf_token" value="')[1].split('"')[0]
    response = client.post("/login", data={"username": username, "password": "lianfu-demo", "csrf_token": token},
                           follow_redirects=False)
    assert response.status_code == 303, response.text
    return client


def run(label: str, url: str, data_dir: Path, rounds: int) -> None:
    from hub.app import create_app

    settings = Settings(role="hub", node_id="hub", data_dir=data_dir, db_url=url, secret_key="bench" * 8, cookie_secure=False)
    queries = {"n": 0}

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.startswith("BEGIN"):  # transaction control is not a query
            queries["n"] += 1

    clients = {}
    for username in ("office", "subcenter_sh"):
        app = create_app(settings)
        event.listen(app.state.db.engine, "before_cursor_execute", count)
        clients[username] = login(app, username)
    office, sub = clients["office"], clients["subcenter_sh"]
    cases: list[tuple[str, Any, str]] = [
        ("roster_list", office, "/api/v1/enterprises?limit=50"),
        ("roster_list_page_100", office, "/api/v1/enterprises?limit=50&offset=5000"),
        ("roster_search_common", office, "/api/v1/enterprises?q=建设"),
        ("roster_search_rare", office, "/api/v1/enterprises?q=无此企业"),
        ("roster_search_rare_two_chars", office, "/api/v1/enterprises?q=无此"),
        ("roster_search_pinyin", office, "/api/v1/enterprises?q=qdhs"),
        ("roster_search_credit_code", office, "/api/v1/enterprises?q=91320505"),
        ("roster_filtered", office, "/api/v1/enterprises?industry=shipbuilding&risk_level=high&is_key=true"),
        ("roster_subcenter_list", sub, "/api/v1/enterprises?limit=50"),
        ("roster_subcenter_search", sub, "/api/v1/enterprises?q=建设"),
        ("roster_subcenter_search_rare", sub, "/api/v1/enterprises?q=无此企业"),
        ("enterprises_page", office, "/enterprises"),
        ("enterprises_page_subcenter", sub, "/enterprises"),
        ("enterprises_page_search_htmx", office, "/enterprises?q=qdhs"),
    ]
    for name, client, path in cases:
        headers = {"HX-Request": "true"} if name.endswith("htmx") else {}
        for _ in range(3):
            assert client.get(path, headers=headers).status_code == 200, path
        durations, counts = [], []
        for _ in range(rounds):
            queries["n"] = 0
            durations.append(server_ms(client.get(path, headers=headers)))
            counts.append(queries["n"])
        durations.sort()
        print(f"{label}_{name}_p95: {durations[int(0.95 * (len(durations) - 1))]:.1f} ms")
        print(f"{label}_{name}_median: {statistics.median(durations):.1f} ms")
        print(f"{label}_{name}_queries: {max(counts)} queries/request")
    for client in clients.values():
        client.__exit__(None, None, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--enterprises", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--only", choices=["sqlite", "postgresql", "sync", "export", "reports", "backup"], default=None)
    parser.add_argument("--sync-args", default="", help="options for the sync benchmarks, e.g. \"--sync-hub sqlite\"")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lianfu-bench-"))
    work.chmod(0o755)
    if args.only in (None, "sqlite", "export"):
        url = f"sqlite:///{work / 'hub.db'}"
        print(f"sqlite_seed_{args.enterprises}: {seed(url, args.enterprises):.1f} s")
        if args.only != "export":
            run("sqlite", url, work / "sqlite", args.rounds)
        if args.only in (None, "export"):
            import export_bench  # the roster's and people's workbooks, from the database just seeded

            export_bench.main([str(args.enterprises), "--db", url])
    if args.only in (None, "postgresql"):
        from pgserver import PostgresServer, find_pg_bin

        if find_pg_bin() is None:
            print("postgresql: skipped (no PostgreSQL binaries)")
        else:
            with PostgresServer(work / "pg") as server:
                url = server.create_database("lianfu_bench")
                print(f"postgresql_seed_{args.enterprises}: {seed(url, args.enterprises):.1f} s")
                run("postgresql", url, work / "postgresql", args.rounds)
    if args.only in (None, "sync"):
        import shlex

        import sync_bench

        sync_bench.main(shlex.split(args.sync_args))
    if args.only == "reports":
        import reports_bench

        reports_bench.main([])
    if args.only == "backup":
        import backup_bench

        backup_bench.main([])


if __name__ == "__main__":
    logging.disable(logging.INFO)
    main()
