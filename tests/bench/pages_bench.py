"""Page benchmark: the office's pages and the roster's API at a PostgreSQL hub the size of the city's, server time.

    python tests/bench/pages_bench.py [--enterprises N] [--rounds R] [--db URL] [--only NAME ...]

Seeds a hub (tests/bench/big_hub.py: 100,000 enterprises, their 250,000 people, visits, cases, accounts, a long audit
trail; by COPY) in a PostgreSQL of its own, or at `--db` (seeded up to N enterprises, so a second run reuses it),
then asks each page R times through the in-process test client, the pages in turn so that a slow spell of the
machine falls on all of them alike. Each figure is the app's own Server-Timing (the request entering the app to the
response starting): p50 and p95 in ms, SQL statements per request, and p95 as a ratio to the p50 of /healthz timed
in the same run (what a request costs before it does anything). Prints one `name: value unit` line per figure, then
a table. The target is a p95 of 50 ms or less for every page.
"""
from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for _p in (str(HERE), str(HERE.parent), str(ROOT)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from litestar.testing import TestClient  # noqa: E402
from sqlalchemy import delete, event, func, select  # noqa: E402

from common.db import Database  # noqa: E402
from common.identity import throttle  # noqa: E402
from common.models import Case, Enterprise, LoginThrottle, Visit  # noqa: E402
from common.settings import Settings  # noqa: E402

TARGET_MS = 50.0
BASELINE = "healthz"


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


def busy_enterprise(url: str) -> str:
    """An enterprise with cases and the most visits: the fullest file of the roster."""
    db = Database.connect(url)
    try:
        with db.reads() as session:
            with_cases = select(Case.enterprise_id).where(Case.enterprise_id.is_not(None))
            found = session.scalar(select(Visit.enterprise_id).where(Visit.enterprise_id.in_(with_cases))
                                   .group_by(Visit.enterprise_id).order_by(func.count().desc()).limit(1))
            return str(found or session.scalar(select(Enterprise.id).limit(1)))
    finally:
        db.dispose()


def pages(enterprise_id: str) -> list[tuple[str, str, str]]:
    """(name, account, path): what the office and a sub-center open most."""
    return [
        (BASELINE, "office", "/healthz"),
        ("home", "office", "/"),
        ("home_subcenter", "subcenter_sh", "/"),
        ("enterprises", "office", "/enterprises"),
        ("enterprises_q_name", "office", "/enterprises?q=建设工程"),
        ("enterprises_q_pinyin_2", "office", "/enterprises?q=jg"),
        ("enterprises_q_pinyin", "office", "/enterprises?q=qdhs"),
        ("enterprises_q_rare", "office", "/enterprises?q=无此企业"),
        ("enterprises_filtered", "office", "/enterprises?industry=shipbuilding&risk_level=high&is_key=1"),
        ("enterprises_subcenter", "subcenter_sh", "/enterprises"),
        ("enterprise_page", "office", f"/enterprises/{enterprise_id}"),
        ("picker", "office", "/enterprises/picker?q=华顺"),
        ("picker_pinyin", "office", "/enterprises/picker?q=jg"),
        ("api_people_q", "office", "/api/v1/people?q=张建国"),
        ("api_people_q_one_char", "office", "/api/v1/people?q=张"),
        ("api_people_q_rare", "office", "/api/v1/people?q=无此人"),
        ("cases", "office", "/cases"),
        ("visits", "office", "/visits"),
        ("visits_plan", "office", "/visits/plan"),
        ("visits_plan_subcenter", "subcenter_sh", "/visits/plan"),
        ("stats", "office", "/stats"),
        ("admin_users", "office", "/admin/users"),
        ("audit", "office", "/audit"),
        ("api_enterprises", "office", "/api/v1/enterprises"),
        ("api_enterprises_q", "office", "/api/v1/enterprises?q=jg"),
    ]


def measure(url: str, data_dir: Path, rounds: int, only: list[str] | None) -> list[dict[str, Any]]:
    from hub.app import create_app

    settings = Settings(role="hub", node_id="hub", data_dir=data_dir, db_url=url, secret_key="bench" * 8,
                        cookie_secure=False)
    queries = {"n": 0}

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.startswith("BEGIN"):  # transaction control is not a query
            queries["n"] += 1

    chosen = [page for page in pages(busy_enterprise(url)) if not only or page[0] in only or page[0] == BASELINE]
    clients = {}
    for username in sorted({account for _, account, _ in chosen}):
        app = create_app(settings)  # one app per client: a test client runs its app's start and stop
        event.listen(app.state.db.engine, "before_cursor_execute", count)
        clients[username] = login(app, username)
    db = Database.connect(url)

    def ask(account: str, path: str) -> Any:
        if "/people" in path:
            # A search of people is counted per account and refused past 60 in ten minutes: the count starts again.
            with db.transaction() as session:
                session.execute(delete(LoginThrottle).where(LoginThrottle.scope == throttle.SEARCH))
        return clients[account].get(path)

    try:
        for name, account, path in chosen:  # warm: the first request of each compiles its SQL and templates
            for _ in range(3):
                response = ask(account, path)
                assert response.status_code == 200, (name, response.status_code, response.text[:500])
        durations: dict[str, list[float]] = {name: [] for name, _, _ in chosen}
        counts: dict[str, int] = {name: 0 for name, _, _ in chosen}
        for _ in range(rounds):
            for name, account, path in chosen:
                queries["n"] = 0
                durations[name].append(server_ms(ask(account, path)))
                counts[name] = max(counts[name], queries["n"])
    finally:
        for client in clients.values():
            client.__exit__(None, None, None)
        db.dispose()
    baseline = statistics.median(durations[BASELINE])
    table = []
    for name, account, path in chosen:
        times = sorted(durations[name])
        table.append({"name": name, "path": path, "account": account, "p50": statistics.median(times),
                      "p95": times[int(0.95 * (len(times) - 1))], "queries": counts[name],
                      "ratio": times[int(0.95 * (len(times) - 1))] / baseline})
    return table


def _pad(text: str, width: int) -> str:
    """`text` left-aligned in `width` columns of a terminal, where a Chinese character takes two."""
    return text + " " * max(0, width - sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text))


def report(table: list[dict[str, Any]]) -> None:
    for row in table:
        print(f"pages_{row['name']}_p50: {row['p50']:.1f} ms")
        print(f"pages_{row['name']}_p95: {row['p95']:.1f} ms")
        print(f"pages_{row['name']}_queries: {row['queries']} queries/request")
        print(f"pages_{row['name']}_p95_to_healthz: {row['ratio']:.0f} x")
    width = max(len(_pad(row["path"], 0)) for row in table)
    print()
    print(f"{'page':<26} {_pad('path', width)} {'as':<13} {'p50 ms':>7} {'p95 ms':>7} {'SQL':>4} {'p95/healthz':>12}")
    for row in table:
        over = "  over" if row["name"] != BASELINE and row["p95"] > TARGET_MS else ""
        print(f"{row['name']:<26} {_pad(row['path'], width)} {row['account']:<13} {row['p50']:>7.1f} {row['p95']:>7.1f} "
              f"{row['queries']:>4} {row['ratio']:>11.0f}x{over}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--enterprises", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--db", default=None, help="a PostgreSQL URL (default: a server of its own, thrown away)")
    parser.add_argument("--only", nargs="*", default=None, help="names of the pages to time (see the table)")
    args = parser.parse_args(argv)
    import big_hub

    work = Path(tempfile.mkdtemp(prefix="lianfu-pages-bench-"))
    work.chmod(0o755)
    if args.db:
        run(args.db, args.enterprises, work, args.rounds, args.only, big_hub)
        return
    from pgserver import PostgresServer, find_pg_bin

    if find_pg_bin() is None:
        print("postgresql: skipped (no PostgreSQL binaries)")
        return
    with PostgresServer(work / "pg") as server:
        run(server.create_database("lianfu_pages"), args.enterprises, work, args.rounds, args.only, big_hub)


def run(url: str, enterprises: int, work: Path, rounds: int, only: list[str] | None, big_hub: Any) -> None:
    for part, seconds in big_hub.seed(url, enterprises).items():
        print(f"pages_seed_{part}: {seconds:.1f} {'rows' if part.endswith('_rows') else 's'}", flush=True)
    report(measure(url, work / "hub", rounds, only))


if __name__ == "__main__":
    logging.disable(logging.INFO)
    main()
