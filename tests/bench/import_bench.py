"""Import benchmark: a 10,000-row roster workbook imported into a PostgreSQL hub that already holds a large roster,
against a plain `executemany` of the same rows in the same run, and against the same import into SQLite.

    python tests/bench/import_bench.py [--roster 100000] [--enterprises 2000] [--people 8000] [--skip-sqlite]

The hub's roster is seeded as `lianfu hub seed-demo` seeds it (100,000 enterprises with two or three people each).
The workbook holds `--enterprises` new enterprises and `--people` new people among them (10,000 rows in all). Each
import runs the whole way a person's does: the workbook read, every row checked against the roster, then written
in one transaction, audited. The baseline inserts the very rows the import wrote (read back from the database),
with psycopg's executemany, in a transaction rolled back. Printed: one `name: value unit` line per figure.
"""
from __future__ import annotations

import argparse
import io
import json
import logging
import random
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for _p in (str(HERE.parent), str(HERE), str(ROOT)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from openpyxl import Workbook
from sqlalchemy import delete, select

from common.db import Database
from common.models import AuditEntry, Enterprise, Person, User
from common.policy import load_principal
from common.roster import imports
from common.validation import make_credit_code, make_id_number


def say(name: str, value: float, unit: str, fmt: str = ".2f") -> None:
    print(f"{name}: {value:{fmt}} {unit}", flush=True)


def workbook(enterprises: int, people: int, seed: int = 7) -> bytes:
    """New enterprises (credit codes outside the seeded range) and people spread over them, as the template has them."""
    rng = random.Random(seed)
    book = Workbook(write_only=True)
    sheet = book.create_sheet("企业")
    sheet.append(["企业名称*", "统一社会信用代码*", "行政区划代码*", "行业", "地址", "联系人", "联系电话", "备注"])
    codes = []
    industries = ["建筑工程", "制造业", "船舶海工", "贸易物流", "其他"]
    for n in range(enterprises):
        code = make_credit_code("9", "2", "310115", f"B{n:07d}")
        codes.append(code)
        sheet.append([f"启东导入{n}号建设工程有限公司上海分公司", code, "310115", rng.choice(industries),
                      f"浦东新区导入路{n}号", "陈经理", f"137{n:08d}", ""])
    people_sheet = book.create_sheet("人员")
    people_sheet.append(["统一社会信用代码*", "姓名*", "身份证号*", "手机号", "职务"])
    for n in range(people):
        birth = date(1970, 1, 1) + timedelta(days=rng.randint(0, 365 * 30))
        people_sheet.append([codes[n % len(codes)], rng.choice("陈王李张刘") + rng.choice("伟芳娜敏静"),
                             make_id_number("320682", birth, 100 + n % 800), f"136{n:08d}", "施工员"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def prepare(url: str, roster: int) -> float:
    from run import seed  # migrate, reference data and the demo roster, in bulk

    return seed(url, roster)


def office(db: Database) -> Any:
    with db.reads() as session:
        return load_principal(session, session.scalars(select(User).where(User.username == "office")).one())


def import_once(db: Database, content: bytes) -> tuple[float, dict[str, Any]]:
    principal = office(db)
    started = time.perf_counter()
    answer = imports.run(db, principal, content, "bench.xlsx", dry_run=False)
    seconds = time.perf_counter() - started
    assert answer["written"], answer["problems"][:5]
    return seconds, answer


def check_once(db: Database, content: bytes) -> float:
    started = time.perf_counter()
    answer = imports.run(db, office(db), content, "bench.xlsx", dry_run=True)
    assert answer["ok"], answer["problems"][:5]
    return time.perf_counter() - started


def imported_rows(db: Database) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rows the import wrote, column by column as stored: what the baseline inserts again."""
    with db.reads() as session:
        enterprises = [dict(r._mapping) for r in session.execute(
            select(Enterprise.__table__).where(Enterprise.credit_code.like("92310115B%")))]
        ids = [e["id"] for e in enterprises]
        people = [dict(r._mapping) for r in session.execute(
            select(Person.__table__).where(Person.enterprise_id.in_(ids)))]
    return enterprises, people


def forget(db: Database) -> None:
    """Take the imported rows out again, so each run starts from the seeded roster."""
    with db.transaction() as session:
        ids = select(Enterprise.id).where(Enterprise.credit_code.like("92310115B%")).scalar_subquery()
        session.execute(delete(Person).where(Person.enterprise_id.in_(ids)))
        session.execute(delete(Enterprise).where(Enterprise.credit_code.like("92310115B%")))
        session.execute(delete(AuditEntry).where(AuditEntry.action == "import"))


def executemany(db: Database, enterprises: list[dict[str, Any]], people: list[dict[str, Any]]) -> float:
    """The same rows by a plain INSERT … executemany on the driver's own cursor, in a transaction rolled back (new
    ids and credit codes, so they stand beside the imported ones)."""
    fresh = {e["id"]: uuid.uuid4() for e in enterprises}
    tables = ((Enterprise.__table__, [{**e, "id": fresh[e["id"]], "credit_code": e["credit_code"][:-1] + "Z"}
                                      for e in enterprises]),
              (Person.__table__, [{**p, "id": uuid.uuid4(), "enterprise_id": fresh[p["enterprise_id"]]}
                                  for p in people]))
    statements = []
    for table, rows in tables:
        names = list(rows[0])
        marks = ", ".join(["%s"] * len(names))
        statements.append((f'INSERT INTO {table.name} ({", ".join(names)}) VALUES ({marks})',
                           [tuple(json.dumps(row[n]) if isinstance(row[n], dict) else row[n] for n in names)
                            for row in rows]))
    with db.engine.connect() as connection:
        raw = connection.connection.driver_connection
        started = time.perf_counter()
        with raw.cursor() as cursor:
            for sql, values in statements:
                cursor.executemany(sql, values)
        seconds = time.perf_counter() - started
        raw.rollback()
    return seconds


def measure(label: str, url: str, content: bytes, rounds: int) -> float:
    db = Database.connect(url)
    try:
        from sync import capture

        capture.install(db, "hub", outbox=False)  # as the hub's app installs it
        checks, imports_, baselines = [], [], []
        for _ in range(rounds):
            forget(db)
            checks.append(check_once(db, content))
            seconds, answer = import_once(db, content)
            imports_.append(seconds)
            enterprises, people = imported_rows(db)
            assert len(enterprises) == answer["counts"]["enterprises_created"]
            if db.dialect == "postgresql":
                baselines.append(executemany(db, enterprises, people))
        forget(db)
        best = min(imports_)
        say(f"import_{label}_rows", answer["rows"], "rows", "d")
        say(f"import_{label}_check_only", min(checks), "s")
        say(f"import_{label}_import", best, "s")
        say(f"import_{label}_rows_per_s", answer["rows"] / best, "rows/s", ".0f")
        if baselines:
            base = min(baselines)
            say(f"import_{label}_executemany_baseline", base, "s")
            say(f"import_{label}_rate_vs_executemany", base / best, "x (target >= 0.20)")
        return best
    finally:
        db.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--roster", type=int, default=100_000, help="enterprises already at the hub")
    parser.add_argument("--enterprises", type=int, default=2_000)
    parser.add_argument("--people", type=int, default=8_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args(argv)
    from pgserver import PostgresServer

    content = workbook(args.enterprises, args.people)
    say("import_workbook_size", len(content) / 1e6, "MB")
    work = Path(tempfile.mkdtemp(prefix="lianfu-import-bench-"))
    work.chmod(0o755)
    with PostgresServer(work / "pg") as server:
        url = server.create_database("lianfu_import_bench")
        say(f"import_postgresql_seed_{args.roster}", prepare(url, args.roster), "s", ".1f")
        pg = measure("postgresql", url, content, args.rounds)
    if not args.skip_sqlite:
        url = f"sqlite:///{work / 'hub.db'}"
        say(f"import_sqlite_seed_{args.roster}", prepare(url, args.roster), "s", ".1f")
        lite = measure("sqlite", url, content, args.rounds)
        say("import_postgresql_vs_sqlite", pg / lite, "x (target <= 2)")


if __name__ == "__main__":
    logging.disable(logging.INFO)
    main()
