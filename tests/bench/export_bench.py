"""Export benchmark: seed N enterprises (five people each on average) into a database, then time /enterprises.xlsx
and /people.xlsx as the office through the app, printing one `name: value unit` line per figure.

    python tests/bench/export_bench.py [N] [--db URL | --postgresql]

N defaults to 100,000; the database to a SQLite file in a temporary folder, or with --postgresql a PostgreSQL
server of its own (a URL given is seeded up to N enterprises, so a second run reuses it). The seeding
(tests/bench/big_hub.py) runs in a child process, so the peak resident memory read after the export (getrusage) is
the export's own; a second export of the roster runs under tracemalloc for the peak of Python's allocations (of
the 500,000 people too, with --trace-people: tracing makes that one take many minutes).

Each export is also timed against a raw read of the same rows (a DB-API cursor, the same run and database): the
ratio is what the export costs beyond fetching its rows, whatever the machine.
"""
from __future__ import annotations

import argparse
import logging
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from contextlib import closing
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for _p in (str(HERE), str(HERE.parent), str(ROOT)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import httpx  # noqa: E402
import uvicorn  # noqa: E402
from openpyxl import load_workbook  # noqa: E402

from common.settings import Settings  # noqa: E402


def say(name: str, value: float, unit: str, fmt: str = ".1f") -> None:
    print(f"{name}: {value:{fmt}} {unit}", flush=True)


def peak_rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """Resident memory now (Linux /proc), the high-water mark elsewhere."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except OSError:
        return peak_rss_mb()
    return pages * resource.getpagesize() / 2**20


class RssWatch:
    """The most resident memory seen while a block runs, sampled every 10 ms: the export's own peak, unlike the
    process's high-water mark (which the app's start and the login's password hashing set first)."""

    def __enter__(self) -> "RssWatch":
        self.start = self.peak = rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, rss_mb())

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())


def seed_in_child(url: str, enterprises: int) -> None:
    import big_hub  # the demo's nodes and accounts, the roster and its people by COPY at PostgreSQL

    started = time.perf_counter()
    big_hub.seed(url, enterprises)
    print(f"{time.perf_counter() - started:.1f}")


# The rows each export reads, as a plain query: the baseline.
RAW_READS = {
    "enterprises": "SELECT name, credit_code, region_code, address, industry, is_key, parent_company, node_id, "
                   "contact_name, contact_phone, risk_level FROM enterprise WHERE deleted_at IS NULL ORDER BY id DESC",
    "people": "SELECT p.name, p.id_number, p.phone, p.position, e.name, e.credit_code FROM person AS p "
              "JOIN enterprise AS e ON e.id = p.enterprise_id WHERE p.deleted_at IS NULL ORDER BY p.id DESC",
}


def raw_read(url: str, sql: str) -> float:
    """Seconds to fetch the rows of `sql` through a DB-API cursor, a thousand at a time."""
    from common.db import Database

    db = Database.connect(url)
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        started = time.perf_counter()
        cursor.execute(sql)
        while cursor.fetchmany(1000):
            pass
        return time.perf_counter() - started
    finally:
        raw.close()
        db.dispose()


def export(client: httpx.Client, path: str, into: Path) -> tuple[float, int]:
    """Seconds for one export, streamed to a file as a browser saves it; the bytes received."""
    started = time.perf_counter()
    size = 0
    with client.stream("GET", path, headers={"Accept-Encoding": "identity"}) as response:
        assert response.status_code == 200, response.read()
        with into.open("wb") as out:
            for chunk in response.iter_bytes():
                out.write(chunk)
                size += len(chunk)
    return time.perf_counter() - started, size


def rows_in(path: Path) -> int:
    book = load_workbook(path, read_only=True)
    try:
        return sum(1 for _ in book.worksheets[0].iter_rows(min_row=2, values_only=True))
    finally:
        book.close()


class Served:
    """The app behind a real HTTP server (uvicorn) in a thread of this process: a test client would hold the whole
    response in memory and hide what the export itself holds."""

    def __init__(self, app: Any) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join()


def login(base_url: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base_url, timeout=600)
    token = client.get("/login").text.split('name="csrf_token" value="')[1].split('"')[0]
    response = client.post("/login", data={"username": username, "password": "lianfu-demo", "csrf_token": token},
                           follow_redirects=False)
    assert response.status_code == 303, response.text
    return client


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("enterprises", nargs="?", type=int, default=100_000)
    parser.add_argument("--db", default=None, help="database URL (default: a SQLite file in a temporary folder)")
    parser.add_argument("--postgresql", action="store_true", help="a PostgreSQL server of its own, thrown away after")
    parser.add_argument("--trace-people", action="store_true", help="the people's export under tracemalloc too")
    parser.add_argument("--seed-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seed_only:
        seed_in_child(args.db, args.enterprises)
        return
    work = Path(tempfile.mkdtemp(prefix="lianfu-export-bench-"))
    work.chmod(0o755)  # (PostgreSQL runs as its own user when we are root)
    try:
        if args.postgresql and not args.db:
            from pgserver import PostgresServer

            with PostgresServer(work / "pg") as server:
                measure(args.enterprises, server.create_database("lianfu_export"), work, args.trace_people)
        else:
            measure(args.enterprises, args.db or f"sqlite:///{work / 'hub.db'}", work, args.trace_people)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # the workbooks, and the database when it was ours


def measure(enterprises: int, url: str, work: Path, trace_people: bool = False) -> None:
    seeded = subprocess.run([sys.executable, __file__, str(enterprises), "--db", url, "--seed-only"],
                            check=True, capture_output=True, text=True)
    say(f"export_seed_{enterprises}", float(seeded.stdout.strip().splitlines()[-1]), "s")

    from hub.app import create_app

    settings = Settings(role="hub", node_id="hub", data_dir=work / "hub", db_url=url, secret_key="bench" * 8,
                        cookie_secure=False)
    label = "sqlite" if url.startswith("sqlite") else "postgresql"
    with Served(create_app(settings)) as base_url, closing(login(base_url, "office")) as client:
        for name, path in (("enterprises", "/enterprises.xlsx"), ("people", "/people.xlsx")):
            with RssWatch() as watch:
                seconds, size = export(client, path, work / f"{name}.xlsx")
            rows = rows_in(work / f"{name}.xlsx")
            read = raw_read(url, RAW_READS[name])
            say(f"export_{label}_{name}_rows", rows, "rows", "d")
            say(f"export_{label}_{name}_time", seconds, "s", ".2f")
            say(f"export_{label}_{name}_raw_read", read, "s", ".2f")
            say(f"export_{label}_{name}_to_raw_read", seconds / read, "x")
            say(f"export_{label}_{name}_rows_per_s", rows / seconds, "rows/s", ".0f")
            say(f"export_{label}_{name}_size", size / 1e6, "MB", ".2f")
            say(f"export_{label}_{name}_rss_before", watch.start, "MB")
            say(f"export_{label}_{name}_rss_growth", watch.peak - watch.start, "MB")
        say(f"export_{label}_process_peak_rss", peak_rss_mb(), "MB")
        traced = (("enterprises", "/enterprises.xlsx"), ("people", "/people.xlsx"))
        for name, path in traced if trace_people else traced[:1]:
            tracemalloc.start()
            export(client, path, work / f"{name}-traced.xlsx")
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            say(f"export_{label}_{name}_python_peak", peak / 1e6, "MB")

if __name__ == "__main__":
    logging.disable(logging.INFO)
    main()
