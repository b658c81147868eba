"""The report pages' server time: a stored report's page (its figures are kept with it, so the page reads one row
whatever the number of cases; the compile is timed by reports_bench.py), against /healthz in the same run.

    python tests/bench/report_page_bench.py [--db sqlite:///var/demo/hub/lianfu.db] [--rounds 60]

Uses a copy of the hub database given (by default the demo's, after `make demo`), compiles its quarterly and
half-year reports if they are not there, logs in as `office` and asks each report page R times. Prints one
`name: value unit` line per figure; the target is a p95 of 100 ms or less.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from litestar.testing import TestClient  # noqa: E402

from common.db import Database  # noqa: E402
from common.reports import service  # noqa: E402
from common.reports.periods import previous  # noqa: E402
from common.settings import Settings  # noqa: E402
from hub.app import create_app  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default=f"sqlite:///{ROOT / 'var/demo/hub/lianfu.db'}")
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="lianfu-report-page-") as work:
        url = args.db
        if url.startswith("sqlite:///"):  # a copy: the bench compiles reports into it
            source = Path(url.removeprefix("sqlite:///"))
            if not source.exists():
                sys.exit(f"no hub database at {source} (run `make demo` once, or give --db)")
            shutil.copy(source, Path(work) / "hub.db")
            url = f"sqlite:///{Path(work) / 'hub.db'}"
        db = Database.connect(url)
        now = datetime.now(UTC)
        ids = {}
        with db.transaction() as session:
            for kind in ("monthly", "quarterly", "semiannual"):
                report, _ = service.compile_report(session, kind, previous(kind, now))
                ids[kind] = report.id
        db.dispose()
        settings = Settings(data_dir=Path(work) / "data", db_url=url, cookie_secure=False, secret_key="b" * 48,
                            base_url="http://testserver.local")
        with TestClient(create_app(settings), base_url="http://testserver.local") as client:
            token = client.get("/login").text.split('name="csrf_token" value="')[1].split('"')[0]
            logged_in = client.post("/login", data={"username": "office", "password": "lianfu-demo", "csrf_token": token},
                                    follow_redirects=False)
            if logged_in.status_code not in (302, 303):
                sys.exit(f"could not log in as office: {logged_in.status_code}")
            for name, path in [("healthz", "/healthz"), *((kind, f"/reports/{ids[kind]}") for kind in ids)]:
                times = []
                for _ in range(args.rounds):
                    answer = client.get(path)
                    if answer.status_code != 200:
                        sys.exit(f"{path}: {answer.status_code}")
                    times.append(float(answer.headers["server-timing"].split("dur=")[1]))
                times.sort()
                p95 = times[max(0, int(len(times) * 0.95) - 1)]
                print(f"report_page_{name}_p50: {times[len(times) // 2]:.1f} ms")
                print(f"report_page_{name}_p95: {p95:.1f} ms")


if __name__ == "__main__":
    main()
