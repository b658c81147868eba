"""Sync benchmarks: a real hub server (uvicorn, one process) and real spokes, one `name: value unit` line per figure.

The hub is PostgreSQL by default (SQLite with `--sync-hub sqlite`); spokes are SQLite as in production. Each
throughput is also printed as a ratio to a raw DB-API `executemany` of the same rows into the same kind of database
(a fresh database migrated to the same schema, parameters converted before the clock starts).

Nodes of the demo tree play these parts:
  sc-shanghai  "S": holds 100,000 enterprises at the hub; its initial pull runs as `lianfu sync --data-dir` (peak RSS
               read with wait4); then 100,000 rows made at S are pushed (in-process `SpokeSync.push`).
  sc-suzhou    "W": a spoke with a steady 1,000-row scope (versions spread over a day, as rows written over time
               would be); its no-op round is timed as the hub grows 10k -> 100k -> 1M rows, and the 100-both-ways
               round is run on it.
  hub          filler rows (bulk SQL) that make the hub bigger without touching any spoke's scope.
  bench-NNNN   workstations enrolled only to get their own node tokens for the many-spokes load test; each sends
               the requests a real spoke with an empty slice (bench-real) makes in a no-op round, as recorded from
               the engine itself, so the load follows the protocol the engine speaks.
"""
from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for _p in (str(HERE.parent), str(ROOT)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import httpx
from sqlalchemy import func, insert, select, text, update
from uuid_utils.compat import uuid7

from common.clock import clock
from common.db import Database
from common.migrate import upgrade
from common.models import Enterprise, SyncOutbox, User
from common.settings import Settings
from common.validation import make_credit_code

LIANFU = [sys.executable, "-m", "common.cli_entry"]
ENTERPRISE = Enterprise.__table__
PULL_NODE, STEADY_NODE, FILLER_NODE = "sc-shanghai", "sc-suzhou", "hub"
STEADY_ROWS = 1000


def say(name: str, value: float, unit: str, fmt: str = ".1f") -> None:
    print(f"{name}: {value:{fmt}} {unit}", flush=True)


def note(text_: str) -> None:
    print(f"# {text_}", file=sys.stderr, flush=True)


# --- rows -----------------------------------------------------------------------------------------------------------

class Serial:
    """Credit codes stay unique across every row this run makes (one live enterprise per code, hub and spoke)."""

    def __init__(self) -> None:
        self.n = 1000

    def take(self, count: int) -> int:
        start, self.n = self.n, self.n + count
        return start


SERIAL = Serial()


def enterprise_rows(count: int, node: str, versions: list[int] | None = None, police: bool = True) -> list[dict[str, Any]]:
    """Rows shaped as the hub stores them (what sync/entities.py carries): every column, field_versions {}.
    `police=False`: as a sub-center makes them, the police-only fields at their defaults (common/rules.py)."""
    start = SERIAL.take(count)
    now = datetime.now(UTC)
    rows = []
    for k in range(count):
        i = start + k
        rows.append({
            "id": uuid7(), "node_id": node, "name": f"启东基准{i}号建设工程有限公司上海分公司",
            "name_pinyin": f"qidongjizhun{i}haojianshegongchengyouxiangongsi qdjz{i}hjsgcyxgs",
            "credit_code": make_credit_code("9", "1", "310115", f"{i:08d}"), "region_code": "310115",
            "address": f"上海浦东新区{i % 999 + 1}号", "industry": "construction", "is_key": police and i % 13 == 0,
            "parent_company": "启东基准集团有限公司", "risk_level": ("low", "medium", "high")[i % 3] if police else "low",
            "contact_name": "张建国", "contact_phone": f"138{i % 100_000_000:08d}", "notes": "",
            "created_at": now, "updated_at": now, "version": versions[k] if versions else clock.now(),
            "deleted_at": None, "field_versions": {},
        })
    return rows


def spread_versions(count: int, days_ago: int = 30, step_ms: int = 60_000) -> list[int]:
    """HLC versions of rows written one a minute, a month ago: a scope that grew over time, not in one burst."""
    start_ms = int(time.time() * 1000) - days_ago * 86_400_000
    return [(start_ms + k * step_ms) << 16 for k in range(count)]


def bulk_insert(db: Database, rows: list[dict[str, Any]], chunk: int = 5000) -> float:
    """Rows loaded as the hub's sync loads a batch (COPY on PostgreSQL: the sync-mark triggers run once a chunk)."""
    from sync.bulk import insert_rows

    started = time.perf_counter()
    with db.transaction() as session:
        for start in range(0, len(rows), chunk):
            insert_rows(session, ENTERPRISE, rows[start:start + chunk])
    return time.perf_counter() - started


def filler(db: Database, count: int) -> float:
    """`count` more enterprises of a node no benchmark spoke holds, made by the database itself."""
    started = time.perf_counter()
    base = clock.now()
    start = SERIAL.take(count)
    if db.dialect == "postgresql":
        with db.transaction() as session:
            session.execute(text(
                "INSERT INTO enterprise (id, node_id, name, name_pinyin, credit_code, region_code, address, industry,"
                " is_key, parent_company, risk_level, contact_name, contact_phone, notes, created_at, updated_at,"
                " version, deleted_at, field_versions)"
                " SELECT gen_random_uuid(), :node, '填充' || g, 'tianchong' || g, 'F' || lpad(g::text, 17, '0'),"
                " '330106', '', 'other', false, '', 'low', '', '', '', now(), now(), CAST(:base AS bigint) + g, NULL, '{}'::json"
                " FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS g"), {"node": FILLER_NODE, "base": base, "lo": start,
                                                          "hi": start + count - 1})
    else:
        now = datetime.now(UTC)
        rows = [{"id": uuid7(), "node_id": FILLER_NODE, "name": f"填充{g}", "name_pinyin": f"tianchong{g}",
                 "credit_code": f"F{g:017d}", "region_code": "330106", "address": "", "industry": "other",
                 "is_key": False, "parent_company": "", "risk_level": "low", "contact_name": "", "contact_phone": "",
                 "notes": "", "created_at": now, "updated_at": now, "version": base + g, "deleted_at": None,
                 "field_versions": {}} for g in range(start, start + count)]
        bulk_insert(db, rows, chunk=20000)
    clock.observe(base + start + count)
    analyze(db)
    return time.perf_counter() - started


def analyze(db: Database) -> None:
    """A settled database after a bulk load: fresh planner statistics (what `hub serve` does at start on SQLite),
    and on PostgreSQL the vacuum autovacuum would soon run anyway (GIN pending lists flushed), so it does not run
    in the middle of a measurement."""
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE" if db.dialect == "postgresql" else "ANALYZE")


def hub_rows(db: Database) -> int:
    with db.reads() as session:
        return int(session.scalar(select(func.count()).select_from(Enterprise)) or 0)


# --- raw executemany baselines ----------------------------------------------------------------------------------

def dbapi_params(db: Database, rows: list[dict[str, Any]]) -> tuple[str, list[Any]]:
    """The statement and parameters SQLAlchemy would hand the driver, made before the clock starts."""
    dialect = db.engine.dialect
    compiled = insert(ENTERPRISE).compile(dialect=dialect, column_keys=list(rows[0]))
    procs = {c.key: c.type._cached_bind_processor(dialect) for c in ENTERPRISE.columns}

    def conv(key: str, value: Any) -> Any:
        proc = procs[key]
        return proc(value) if proc is not None else value

    if compiled.positional:
        order = compiled.positiontup or []
        params: list[Any] = [tuple(conv(k, row[k]) for k in order) for row in rows]
    else:
        params = [{k: conv(k, v) for k, v in row.items()} for row in rows]
    return str(compiled), params


def raw_executemany(url: str, rows: list[dict[str, Any]], fts: bool = True) -> float:
    """Rows per second of one DB-API executemany (one transaction) into a fresh database of the same schema.

    The table is emptied first (the same rows are inserted more than once); `fts=False` (SQLite) leaves out the
    roster's trigram index triggers, to show what they cost.
    """
    db = Database.connect(url)
    sql, params = dbapi_params(db, rows)
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        if db.dialect == "sqlite":
            cursor.execute("BEGIN")
            cursor.execute("DELETE FROM enterprise")
            if not fts:
                for name in ("enterprise_fts_ai", "enterprise_fts_ad", "enterprise_fts_au"):
                    cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
            raw.commit()
            cursor.execute("BEGIN")
        else:
            cursor.execute("DELETE FROM enterprise")
            raw.commit()
        started = time.perf_counter()
        cursor.executemany(sql, params)
        raw.commit()
        seconds = time.perf_counter() - started
        cursor.close()
    finally:
        raw.close()
        db.dispose()
    return len(rows) / seconds


def fresh_schema(url: str) -> None:
    """A migrated database with the demo nodes (the rows' node_id must exist where references are enforced)."""
    from common.bootstrap import ensure_reference_data
    from hub.seed import seed_reference_nodes

    upgrade(url)
    db = Database.connect(url)
    with db.transaction() as session:
        ensure_reference_data(session, Settings())
        seed_reference_nodes(session)
        # The raw baseline is the plain table: the sync marks' triggers are part of what sync costs, not of the
        # machine's raw insert rate.
        for when in ("insert", "update", "delete"):
            if db.dialect == "postgresql":
                session.execute(text(f"DROP TRIGGER IF EXISTS sync_mark_{when} ON enterprise"))
            else:
                session.execute(text(f"DROP TRIGGER IF EXISTS sync_mark_enterprise_{when}"))
    db.dispose()


# --- processes --------------------------------------------------------------------------------------------------

def environment(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIANFU_")}
    env.update({"LIANFU_DATA_DIR": str(data_dir), "LIANFU_COOKIE_SECURE": "0", "PYTHONUNBUFFERED": "1",
                "LIANFU_SYNC_INTERVAL": "3600"})
    return env


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class HubServer:
    """`lianfu hub serve --db URL` on a free loopback port: one uvicorn process."""

    def __init__(self, url: str, data_dir: Path) -> None:
        self.url, self.data_dir = url, data_dir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "hub.log"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([*LIANFU, "hub", "serve", "--db", self.url, "--port", str(self.port),
                                             "--data-dir", str(self.data_dir)], cwd=ROOT, env=environment(self.data_dir),
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"hub did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)

    def cpu_seconds(self) -> float:
        assert self.process is not None
        return process_cpu_seconds(self.process)

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None


def process_cpu_seconds(process: subprocess.Popen[bytes]) -> float:
    """User and system CPU a child process has used so far (from /proc)."""
    fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop_process(process: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM, then SIGKILL after 15 s."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- spokes ---------------------------------------------------------------------------------------------------------

class Spoke:
    """An enrolled spoke's data dir, database and link, for in-process rounds."""

    def __init__(self, hub_db: Database, hub: HubServer, node: str, data_dir: Path) -> None:
        from common.federation.service import issue_enrollment_code
        from spoke.enroll import enroll
        from sync.capture import spoke_database
        from sync.hub_link import HubLink, SpokeConfig

        with hub_db.transaction() as session:
            code = issue_enrollment_code(session, node)
        self.node, self.data_dir, self.hub = node, data_dir, hub
        self.settings = Settings(role="spoke", node_id=node, data_dir=data_dir, secret_key="bench-spoke-" + node * 3,
                                 cookie_secure=False)
        enroll(self.settings, hub.base, code)
        config = SpokeConfig.load(data_dir)
        assert config is not None
        self.db = spoke_database(self.settings.database_url, node)
        self.link = HubLink(data_dir, config)

    def engine(self) -> Any:
        from sync.client import SpokeSync

        return SpokeSync(self.db, self.link, self.data_dir, self.node)

    def round(self) -> Any:
        result = self.engine().round()
        assert result.ok, result.error
        return result


def timed_rounds(spoke: Spoke, rounds: int, hub: HubServer, warm: int = 3) -> tuple[float, list[float], int, float]:
    """Median wall ms of `rounds` rounds, each round's ms, the most rows one pulled, and the CPU ms per round
    spent by the spoke (this process) and the hub process together (PostgreSQL's own CPU not included)."""
    engine = spoke.engine()  # one engine and link across rounds: the node token is reused, as in the scheduler
    for _ in range(warm):
        assert engine.round().ok
    durations, pulled = [], 0
    cpu_before = time.process_time() + hub.cpu_seconds()
    for _ in range(rounds):
        started = time.perf_counter()
        result = engine.round()
        durations.append((time.perf_counter() - started) * 1000)
        assert result.ok, result.error
        pulled = max(pulled, result.pulled)
    cpu = (time.process_time() + hub.cpu_seconds() - cpu_before) * 1000 / rounds
    return statistics.median(durations), durations, pulled, cpu


def rows_due_again(hub_db: Database, spoke: Spoke) -> int:
    """Rows in the spoke's scope at the hub that its next pull sends (again), from the cursors the spoke saved and
    the engine's own rule for where a pull resumes."""
    from common import policy
    from sync import hub
    from sync.entities import BY_NAME
    from sync.client import read_state

    from sync.cursors import Cursor, resume_from, seen_position

    with spoke.db.reads() as session:
        cursors = read_state(session, "cursors")
    total = 0
    with hub_db.reads() as session:
        principal = hub.spoke_principal(session, spoke.node)
        for name, value in cursors.items():
            entity = BY_NAME[name]
            resumed = resume_from(Cursor.from_wire(value)).to_wire()
            start, after = resumed[0], resumed[1]
            # A pull that starts before its cursor skips the rows the spoke has seen (SEEN in sync/wire.py).
            seen = seen_position(resumed)
            after_id = uuid.UUID(str(after)) if after else uuid.UUID(int=0)
            table = entity.table
            query = select(func.count()).select_from(table).where(
                policy.in_scope(entity.model, principal),
                (table.c.version > int(start)) | ((table.c.version == int(start)) & (table.c.id > after_id)))
            if "pushed_by" in table.c:  # what its own push made, as it holds it, is not sent back (sync/hub/pull.py)
                query = query.where((table.c.pushed_by.is_(None)) | (table.c.pushed_by != spoke.node)
                                    | (table.c.pushed_version != table.c.version))
            if seen is not None:
                query = query.where(hub.not_seen(table, seen))
            total += int(session.scalar(query) or 0)
    return total


def scope_costs(label: str, spoke: Spoke, repeats: int = 7) -> None:
    """A no-op round's two scope-wide steps for this spoke: the hub's time for a pull with nothing new and for the
    digest (Server-Timing), and the spoke's own digest of its tables."""
    from sync.client import read_state
    from sync.client.digest import local_digests
    from sync.wire import encode

    engine = spoke.engine()
    with spoke.db.reads() as session:
        cursors = read_state(session, "cursors")
        started = time.perf_counter()
        digests = local_digests(session)
        say(f"sync_noop_spoke_digest_ms_scope_{label}", (time.perf_counter() - started) * 1000, "ms")
    headers = {**engine.hub.headers, "Authorization": f"Bearer {spoke.link.node_token()}"}
    with httpx.Client(base_url=spoke.link.config.hub_url, timeout=60) as client:
        # A pull that starts exactly at the saved cursors: nothing is due.
        exact = {name: list(value[:2]) for name, value in cursors.items()}
        for name, path, body in (("pull", "/api/v1/sync/pull", {"cursors": exact, "limit": 5000}),
                                 ("digest", "/api/v1/sync/digest", {"digests": digests, "queued": 0,
                                                                    "lag_seconds": 0.0})):
            times = []
            for _ in range(repeats):
                response = client.post(path, content=encode(body), headers=headers)
                assert response.status_code == 200, response.text
                times.append(float(response.headers["server-timing"].split("dur=")[1]))
            say(f"sync_noop_hub_{name}_ms_scope_{label}", statistics.median(times), "ms")


def user_id(db: Database, username: str) -> uuid.UUID:
    with db.reads() as session:
        return session.scalars(select(User.id).where(User.username == username)).one()


# --- the figures ----------------------------------------------------------------------------------------------------

def noop(label: str, hub_db: Database, hub: HubServer, spoke: Spoke, rounds: int) -> float:
    median, durations, pulled, cpu = timed_rounds(spoke, rounds, hub)
    size = hub_rows(hub_db)
    say(f"sync_noop_round_ms_{label}", median, "ms")
    say(f"sync_noop_round_cpu_ms_{label}", cpu, "ms CPU (spoke + hub processes)")
    say(f"sync_noop_round_p90_ms_{label}", sorted(durations)[int(0.9 * (len(durations) - 1))], "ms")
    say(f"sync_noop_hub_rows_{label}", size, "rows", "d")
    say(f"sync_noop_rows_pulled_again_{label}", pulled, "rows", "d")
    return median


def scheduled(label: str, spoke: Spoke, rounds: int) -> None:
    """A quiet round as `lianfu spoke serve` runs it (SpokeSchedule: the address, keys and directory when due, then
    the engine's round): its median and the requests it makes to the hub."""
    from spoke.schedule import SpokeSchedule

    schedule = SpokeSchedule(spoke.db, spoke.settings, spoke.link, enabled=False, interval=60)
    for _ in range(3):  # the first says where the spoke lives and takes the directory
        warm = schedule.round()
        assert warm is not None and warm.ok, warm
    requests = 0
    original = spoke.link._request

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal requests
        requests += 1
        return original(*args, **kwargs)

    spoke.link._request = counted  # type: ignore[method-assign]
    durations = []
    try:
        for _ in range(rounds):
            started = time.perf_counter()
            result = schedule.round()
            durations.append((time.perf_counter() - started) * 1000)
            assert result is not None and result.ok, result
    finally:
        del spoke.link._request
    say(f"sync_scheduled_noop_round_ms_{label}", statistics.median(durations), "ms (as `lianfu spoke serve` runs it)")
    say(f"sync_scheduled_noop_round_requests_{label}", requests / rounds, "requests per round")


# Linux counts a process's pre-exec image in its ru_maxrss: a child forked from this (large) process would report
# this process's size. A thin launcher forks the measured command, so its figure is the command's own.
LAUNCHER = ("import json, os, subprocess, sys\n"
            "p = subprocess.Popen(sys.argv[2:])\n"
            "_, status, usage = os.wait4(p.pid, 0)\n"
            "open(sys.argv[1], 'w').write(json.dumps({'maxrss_kb': usage.ru_maxrss, 'cpu_s': usage.ru_utime + "
            "usage.ru_stime, 'code': os.waitstatus_to_exitcode(status)}))\n")


def initial_pull(spoke_dir: Path, expect: int) -> tuple[float, float, float, dict[str, Any]]:
    """`lianfu sync --data-dir` in its own process; its own round time, the process's wall time and peak RSS."""
    usage_file = spoke_dir.parent / f"{spoke_dir.name}-usage.json"
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", LAUNCHER, str(usage_file), *LIANFU, "sync", "--data-dir",
                           str(spoke_dir)], check=False, cwd=ROOT, env=environment(spoke_dir), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True)
    wall = time.perf_counter() - started
    usage = json.loads(usage_file.read_text())
    if done.returncode != 0 or usage["code"] != 0:
        raise RuntimeError(f"lianfu sync exited {usage['code']}:\n{done.stdout}\n{done.stderr[-3000:]}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["pulled"] >= expect, summary
    summary["cpu_s"] = usage["cpu_s"]
    return summary["seconds"], wall, usage["maxrss_kb"] / 1024, summary


def make_at_spoke(spoke: Spoke, count: int, actor: uuid.UUID) -> list[dict[str, Any]]:
    """`count` rows made at the spoke with their outbox entries (fields=None: made here), in bulk SQL."""
    rows = enterprise_rows(count, spoke.node, police=False)
    now = datetime.now(UTC)
    outbox = [{"entity": "enterprise", "row_id": str(r["id"]), "fields": None, "prior": None, "actor_id": actor,
               "created_at": now} for r in rows]
    with spoke.db.transaction() as session:
        for start in range(0, count, 5000):
            session.execute(insert(ENTERPRISE), rows[start:start + 5000])
            session.execute(insert(SyncOutbox.__table__), outbox[start:start + 5000])
    return rows


def both_ways(hub_db: Database, spoke: Spoke, username: str, changes: int, repeats: int,
              cpu: list[float] | None = None, start: int = 0) -> tuple[list[float], list[int]]:
    """`changes` rows edited at the spoke (ORM, captured into the outbox) and as many others at the hub; one round.
    With `cpu`, each round's CPU ms (this process, the spoke, and the hub's) is appended to it. `start`: the number
    of repetitions run before (by earlier calls), so a call goes on where the last one stopped.

    The first repetition follows quiet rounds. Each later one starts its pull OVERLAP (10 s of HLC) before the
    newest version the one before saw; on PostgreSQL the rows that one saw are skipped (SEEN in sync/wire.py), on
    SQLite they come again."""
    from common.policy import principal_at

    with spoke.db.reads() as session:
        ids = list(session.scalars(select(Enterprise.id).where(Enterprise.node_id == spoke.node)
                                   .order_by(Enterprise.id)))
    uid = user_id(hub_db, username)
    timings, pulled = [], []
    # Each repetition edits the next 2 x `changes` rows of one shuffled order of the scope, round the scope again when
    # it ends: a row comes back only rounds after it synced, so every change is a plain edit, never a conflict.
    assert 2 * changes <= len(ids), (changes, len(ids))
    every = random.Random(7).sample(ids, len(ids))
    for rep in range(start, start + repeats):
        picked = [every[(2 * changes * rep + k) % len(every)] for k in range(2 * changes)]
        here, there = picked[:changes], picked[changes:]
        with spoke.db.reads() as session:
            principal = principal_at(session, uid, username, "subcenter", spoke.node)
        with spoke.db.transaction(actor=principal) as session:
            for obj in session.scalars(select(Enterprise).where(Enterprise.id.in_(here))):
                obj.notes = f"spoke edit {rep}"
                obj.contact_phone = f"1370000{rep:04d}"
        with hub_db.transaction() as session:
            for row_id in there:
                version = clock.now()
                session.execute(update(ENTERPRISE).where(ENTERPRISE.c.id == row_id).values(
                    risk_level=("low", "medium", "high")[rep % 3], version=version, updated_at=datetime.now(UTC),
                    field_versions={"risk_level": [version, "hub"]}))
        engine = spoke.engine()
        cpu_before = time.process_time() + spoke.hub.cpu_seconds()
        started = time.perf_counter()
        result = engine.round()
        timings.append((time.perf_counter() - started) * 1000)
        if cpu is not None:
            cpu.append((time.process_time() + spoke.hub.cpu_seconds() - cpu_before) * 1000)
        assert result.ok and result.pushed == changes and not result.rejected, result
        assert result.pulled >= changes, result
        pulled.append(result.pulled)
    return timings, pulled


# --- the yardstick -----------------------------------------------------------------------------------------------

POUCHDB = HERE / "pouchdb"


def pouchdb_node() -> str | None:
    """The node to run the PouchDB yardstick with; None (said so) without node or its packages (`make bench`
    installs them: npm ci in tests/bench/pouchdb)."""
    node = shutil.which("node")
    if node is None or not (POUCHDB / "node_modules" / "pouchdb").is_dir():
        note("PouchDB yardstick skipped: node or tests/bench/pouchdb/node_modules missing (make bench installs them)")
        return None
    return node


def pouchdb_run(node: str, repeats: int = 5) -> dict[str, Any] | None:
    """One run of the PouchDB yardstick: PouchDB syncing with a CouchDB-style server on this machine, now (its quiet
    sync, and `repeats` syncs of 100 documents edited at each end). None (said so) when it fails."""
    done = subprocess.run([node, str(POUCHDB / "both_ways.js"), "--docs", str(STEADY_ROWS), "--changes", "100",
                           "--repeats", str(repeats)], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        note(f"PouchDB yardstick failed: {done.stderr[-500:]}")
        return None
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert all(w == [100, 100] for w in found["written_push_pull"]), found
    return found


def yardstick(groups: list[tuple[list[float], dict[str, Any] | None]], quiet_ms: float | None) -> None:
    """The both-ways rounds beside PouchDB's, run in turns (a group of ours, then a run of PouchDB's) so both see the
    machine at the same speed: the issue's latency targets were set against PouchDB (100 rows both ways: ≤ 30 ms
    where PouchDB took 34–52 ms; a quiet round ≤ 6 ms where its empty pull took 8–20 ms), so the ratios hold when
    the machine's speed changes, as it does here from one minute to the next."""
    paired = [(ours, found) for ours, found in groups if found is not None]
    if not paired:
        return
    pouch = [ms for _ours, found in paired for ms in found["both_ways_all_ms"]]
    ours_all = [ms for ours, _found in paired for ms in ours]
    say("pouchdb_100_changed_both_ways_ms", statistics.median(pouch), "ms (PouchDB 9 on LevelDB, express-pouchdb; "
        f"median of {len(pouch)} in {len(paired)} runs between ours)")
    say("sync_100_changed_both_ways_x_pouchdb", statistics.median(ours_all) / statistics.median(pouch),
        "x PouchDB (target 30/52-30/34: 0.58-0.88)", ".2f")
    turns = [statistics.median(ours) / statistics.median(found["both_ways_all_ms"]) for ours, found in paired]
    say("sync_100_changed_both_ways_x_pouchdb_worst_turn", max(turns), "x PouchDB (the least favourable group and "
        "the PouchDB run right after it)", ".2f")
    quiet = statistics.median(found["quiet_ms"] for _ours, found in paired)
    say("pouchdb_quiet_sync_ms", quiet, "ms")
    if quiet_ms is not None:
        say("sync_noop_round_1m_x_pouchdb", quiet_ms / quiet, "x PouchDB (target 6/20-6/8: 0.30-0.75)", ".2f")


# --- many spokes ------------------------------------------------------------------------------------------------

def enroll_light(hub_db: Database, hub: HubServer, nodes: list[str], root: Path) -> list[str]:
    """Nodes enrolled only as far as a node token: key made, registered with a code; no spoke database."""
    from common.federation.service import add_node, issue_enrollment_code
    from sync.hub_link import HubLink, SpokeConfig, new_client_key

    with hub_db.transaction() as session:
        for node in nodes:
            add_node(session, node, "workstation", f"基准工作站{node}", STEADY_NODE, "320505")
        codes = {node: issue_enrollment_code(session, node) for node in nodes}
    from concurrent.futures import ThreadPoolExecutor

    def one(node: str) -> str:
        data_dir = root / node
        jwks = new_client_key(data_dir)
        with httpx.Client(base_url=hub.base, timeout=60) as client:
            response = client.post("/api/v1/sync/enroll", json={"code": codes[node], "jwks": jwks})
        assert response.status_code == 201, response.text
        body = response.json()
        config = SpokeConfig(hub_url=hub.base, issuer=body["issuer"], node_id=body["node"],
                             node_name=body["node_name"], client_id=body["client_id"])
        return HubLink(data_dir, config, timeout=60).node_token()

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, nodes))


def record_noop_round(hub_db: Database, hub: HubServer, root: Path) -> list[tuple[str, str, bytes, dict[str, str]]]:
    """The requests a real spoke with an empty slice makes in a round with nothing to do, as the engine makes them
    (method, path with query, body, headers): what the simulated spokes send, each with its own token."""
    from common.federation.service import add_node
    from sync.hub_link import HubLink

    recorded: list[tuple[str, str, bytes, dict[str, str]]] = []

    class Recorder(httpx.BaseTransport):
        def __init__(self) -> None:
            self.inner = httpx.HTTPTransport()

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            request.read()
            headers = {k: v for k, v in request.headers.items()
                       if k.lower() not in ("authorization", "content-length", "host", "user-agent")}
            recorded.append((request.method, request.url.raw_path.decode(), request.content, headers))
            return self.inner.handle_request(request)

    with hub_db.transaction() as session:
        add_node(session, "bench-real", "workstation", "基准工作站 bench-real", STEADY_NODE, "320505")
    spoke = Spoke(hub_db, hub, "bench-real", root / "bench-real")
    spoke.link = HubLink(spoke.data_dir, spoke.link.config, transport=Recorder())
    engine = spoke.engine()
    for _ in range(3):
        assert engine.round().ok
    recorded.clear()
    assert engine.round().ok
    spoke.db.dispose()
    return [r for r in recorded if r[1].startswith("/api/")]


async def load_test(hub: HubServer, tokens: list[str], requests: list[tuple[str, str, bytes, dict[str, str]]],
                    period: float, duration: float) -> dict[str, Any]:
    """Each simulated spoke sends a no-op round's requests (as recorded from a real spoke) once per `period`, one
    after the other as the engine does, on a connection of its own; rounds start on schedule (open loop)."""
    kinds = [path.split("?")[0].rsplit("/", 1)[-1] for _method, path, _body, _headers in requests]
    latencies: dict[str, list[float]] = {kind: [] for kind in kinds}
    errors: dict[str, int] = {}
    rounds_late: list[float] = []
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=0)  # each spoke opens its own connection
    async with httpx.AsyncClient(base_url=hub.base, timeout=30, limits=limits) as client:

        async def request(kind: str, method: str, path: str, headers: dict[str, str], content: bytes) -> bool:
            started = time.perf_counter()
            try:
                response = await client.request(method, path, headers=headers, content=content or None)
                ok = response.status_code == 200
                if not ok:
                    errors[f"{kind}_{response.status_code}"] = errors.get(f"{kind}_{response.status_code}", 0) + 1
            except httpx.HTTPError as exc:
                ok = False
                errors[f"{kind}_{type(exc).__name__}"] = errors.get(f"{kind}_{type(exc).__name__}", 0) + 1
            latencies[kind].append((time.perf_counter() - started) * 1000)
            return ok

        async def one_round(token: str) -> None:
            round_started = time.perf_counter()
            for kind, (method, path, body, headers) in zip(kinds, requests):
                if not await request(kind, method, path, {**headers, "Authorization": f"Bearer {token}"}, body):
                    return
            rounds_late.append((time.perf_counter() - round_started) * 1000)

        rng = random.Random(11)
        offsets = sorted((rng.uniform(0, period), token) for token in tokens)
        start = time.perf_counter() + 0.5
        tasks = []
        cpu_before = hub.cpu_seconds()
        k = 0
        while True:
            due = [(start + off + k * period, tok) for off, tok in offsets]
            if due[0][0] - start >= duration:
                break
            for at, tok in due:
                if at - start >= duration:
                    break
                delay = at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one_round(tok)))
            k += 1
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
        cpu = hub.cpu_seconds() - cpu_before
    every = sorted(x for v in latencies.values() for x in v)
    return {"latencies": latencies, "all": every, "errors": errors, "rounds": rounds_late, "elapsed": elapsed,
            "cpu": cpu}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def machine_speed() -> tuple[float, float]:
    """The machine's speed at the moment, for reading figures of different runs side by side: a fixed pure-Python
    loop (ms, best of five) and a loopback round trip between two threads (µs, median of 2,000). On a shared machine
    the second follows the small-request figures (a quiet round) more closely than the first."""
    import socket
    import threading

    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        total = 0
        for n in range(3_000_000):
            total += n
        best = min(best, time.perf_counter() - started)
    near, far = socket.socketpair()

    def echo() -> None:
        while data := far.recv(64):
            far.sendall(data)

    thread = threading.Thread(target=echo, daemon=True)
    thread.start()
    trips = []
    for _ in range(2000):
        started = time.perf_counter()
        near.sendall(b"x")
        near.recv(64)
        trips.append(time.perf_counter() - started)
    near.close()
    thread.join(timeout=5)
    far.close()
    return best * 1000, statistics.median(trips) * 1e6


def say_speed(when: str) -> None:
    loop, trip = machine_speed()
    say(f"sync_machine_python_loop_ms_at_{when}", loop, "ms (lower is faster)")
    say(f"sync_machine_loopback_round_trip_us_at_{when}", trip, "µs (lower is faster)")


# --- the run --------------------------------------------------------------------------------------------------------

def run(work: Path, hub_url: str, raw_sqlite_url: str, raw_hub_url: str, args: Any) -> None:
    from common.bootstrap import ensure_reference_data
    from hub.seed import seed_demo

    kind = "postgresql" if hub_url.startswith("postgresql") else "sqlite"
    note(f"hub database: {kind}; {os.cpu_count()} cores; load average at start {os.getloadavg()[0]:.2f}")
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                check=False).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "sync", "common", "hub", "spoke"], cwd=ROOT,
                               capture_output=True, text=True, check=False).stdout.strip()
        note(f"code at commit {commit or '?'}{' (sync/common/hub/spoke modified)' if dirty else ''}")
    except OSError:
        pass
    say("sync_machine_cores", os.cpu_count() or 0, "cores", "d")
    say("sync_machine_load_avg_at_start", os.getloadavg()[0], "", ".2f")
    say_speed("start")
    say(f"sync_hub_is_{kind}", 1, "flag", "d")
    (work / "hub").mkdir(parents=True, exist_ok=True)
    upgrade(hub_url)
    hub_db = Database.connect(hub_url)
    with hub_db.transaction() as session:
        ensure_reference_data(session, Settings())
        seed_demo(session, 0)
    hub = HubServer(hub_url, work / "hub")
    try:
        # --- 10k hub: the steady spoke's 1,000 rows (written over a day, a month ago) and filler at the hub node.
        bulk_insert(hub_db, enterprise_rows(STEADY_ROWS, STEADY_NODE, spread_versions(STEADY_ROWS)))
        filler(hub_db, 10_000 - hub_rows(hub_db))
        hub.start()
        steady = Spoke(hub_db, hub, STEADY_NODE, work / STEADY_NODE)
        first = steady.round()
        assert first.pulled >= STEADY_ROWS, first
        noop_medians = [noop("10k", hub_db, hub, steady, args.rounds)]

        # --- 100k hub.
        filler(hub_db, 100_000 - hub_rows(hub_db))
        noop_medians.append(noop("100k", hub_db, hub, steady, args.rounds))

        # --- initial pull of 100,000 rows into an empty spoke, as its own `lianfu sync` process.
        pull_rows = enterprise_rows(args.pull_rows, PULL_NODE)
        loaded = bulk_insert(hub_db, pull_rows)
        analyze(hub_db)
        note(f"loaded {len(pull_rows)} rows for {PULL_NODE} at the hub in {loaded:.1f} s")
        big = Spoke(hub_db, hub, PULL_NODE, work / PULL_NODE)
        big.db.dispose()
        hub_cpu = hub.cpu_seconds()
        seconds, wall, rss, summary = initial_pull(big.data_dir, args.pull_rows)
        hub_cpu = hub.cpu_seconds() - hub_cpu
        pull_rate = summary["pulled"] / seconds
        raw_sqlite = raw_executemany(raw_sqlite_url, pull_rows)
        say("sync_initial_pull_rows_per_s", pull_rate, "rows/s", ".0f")
        say("sync_initial_pull_s", seconds, "s")
        say("sync_initial_pull_process_wall_s", wall, "s")
        say("raw_sqlite_executemany_rows_per_s", raw_sqlite, "rows/s", ".0f")
        say("sync_initial_pull_ratio", pull_rate / raw_sqlite, "x raw", ".3f")
        say("raw_sqlite_executemany_without_fts_rows_per_s", raw_executemany(raw_sqlite_url, pull_rows, fts=False),
            "rows/s", ".0f")
        say("sync_pull_peak_rss_mb", rss, "MB")
        say("sync_initial_pull_spoke_process_cpu_s", summary["cpu_s"], "s CPU (whole `lianfu sync` process)")
        say("sync_initial_pull_hub_cpu_s", hub_cpu, "s CPU")

        # The scope-wide steps of a no-op round, for a 1,000-row scope and for the 100,000-row one.
        scope_costs("1k", steady)
        scope_costs("100k", big)
        # What that spoke's next rounds pull again: each pull starts OVERLAP (10 s of HLC) before its cursor.
        say("sync_rows_pulled_again_next_round_after_bulk_pull", rows_due_again(hub_db, big), "rows", "d")

        # --- push of 100,000 rows made at that spoke, into the hub.
        actor = user_id(hub_db, "subcenter_sh")
        made = make_at_spoke(big, args.push_rows, actor)
        engine = big.engine()
        from sync.client import RoundResult

        engine.link.node_token()
        result = RoundResult()
        cpu = time.process_time(), hub.cpu_seconds()
        started = time.perf_counter()
        engine.push(result)  # the push alone (a round's last batch would also bring a pull page)
        push_seconds = time.perf_counter() - started
        say("sync_push_spoke_cpu_s", time.process_time() - cpu[0], "s CPU")
        say("sync_push_hub_cpu_s", hub.cpu_seconds() - cpu[1], "s CPU")
        assert result.pushed == args.push_rows and not result.rejected, (result.pushed, result.rejected[:3])
        push_rate = args.push_rows / push_seconds
        hub_made = [{**row, "version": clock.now()} for row in made]  # as the hub stores them: its own version
        raw_hub = raw_executemany(raw_hub_url, hub_made)
        say("sync_push_rows_per_s", push_rate, "rows/s", ".0f")
        say("sync_push_s", push_seconds, "s")
        say(f"raw_{kind}_executemany_rows_per_s", raw_hub, "rows/s", ".0f")
        say("sync_push_ratio", push_rate / raw_hub, "x raw", ".3f")
        # The hub stamps its own version on every row it takes: the pushing spoke pulls them all back next round.
        say("sync_rows_pulled_back_next_round_after_push", rows_due_again(hub_db, big), "rows", "d")
        big.db.dispose()
        del pull_rows, made, hub_made

        # --- 1M hub.
        filler(hub_db, args.hub_max - hub_rows(hub_db))
        noop_medians.append(noop("1m", hub_db, hub, steady, args.rounds))
        scheduled("1m", steady, args.rounds)

        # --- 100 rows changed at the spoke and 100 at the hub, one round (median of --both-repeats), in groups of 5
        # with a run of the PouchDB yardstick after each.
        cpu: list[float] = []
        timings, pulled = [], []
        groups: list[tuple[list[float], dict[str, Any] | None]] = []
        node = None if args.no_yardstick else pouchdb_node()
        while len(timings) < args.both_repeats:
            took, rows = both_ways(hub_db, steady, "subcenter_sz", 100, min(5, args.both_repeats - len(timings)), cpu,
                                   start=len(timings))
            timings += took
            pulled += rows
            groups.append((took, pouchdb_run(node) if node is not None else None))
        say("sync_100_changed_both_ways_ms", statistics.median(timings), "ms")
        say("sync_100_changed_both_ways_first_ms", timings[0], "ms")
        say("sync_100_changed_both_ways_min_ms", min(timings), "ms")
        say("sync_100_changed_both_ways_p90_ms", pct(timings, 0.9), "ms")
        say("sync_100_changed_both_ways_cpu_ms", statistics.median(cpu), "ms CPU (spoke + hub processes)")
        # The hub's 100 edits (the spoke's own are stamped by the push's answer, and the previous repetition's rows
        # are skipped as seen): 100 each time.
        say("sync_100_changed_both_ways_rows_pulled", statistics.median(pulled), "rows", ".0f")
        say("sync_100_changed_both_ways_first_rows_pulled", pulled[0], "rows", "d")
        quiet_1m = statistics.median(noop_medians[-1:]) if noop_medians else None
        yardstick(groups, quiet_1m)

        # --- one hub process serving many spokes' no-op rounds.
        nodes = [f"bench-{i:04d}" for i in range(args.spokes)]
        started = time.perf_counter()
        tokens = enroll_light(hub_db, hub, nodes, work / "many")
        note(f"enrolled {len(tokens)} simulated spokes in {time.perf_counter() - started:.1f} s")
        requests = record_noop_round(hub_db, hub, work / "many")
        note("a no-op round's requests: " + ", ".join(f"{m} {p.split('?')[0]}" for m, p, _b, _h in requests))
        say("sync_noop_round_requests", len(requests), "requests", "d")
        period = args.period
        out = asyncio.run(load_test(hub, tokens, requests, period, args.duration))
        count = len(out["all"])
        errors = sum(out["errors"].values())
        say("sync_hub_500_spokes_simulated_spokes", args.spokes, "spokes", "d")
        say("sync_hub_500_spokes_period", period, "s")
        say("sync_hub_500_spokes_requests", count, "requests", "d")
        say("sync_hub_500_spokes_rate", count / out["elapsed"], "requests/s")
        say("sync_hub_500_spokes_rounds_per_s", len(out["rounds"]) / out["elapsed"], "rounds/s")
        say("sync_hub_500_spokes_p99_ms", pct(out["all"], 0.99), "ms")
        say("sync_hub_500_spokes_p50_ms", pct(out["all"], 0.50), "ms")
        for kind_, values in out["latencies"].items():
            say(f"sync_hub_500_spokes_{kind_}_p99_ms", pct(values, 0.99), "ms")
        say("sync_hub_500_spokes_round_p99_ms", pct(out["rounds"], 0.99), "ms")
        say("sync_hub_500_spokes_errors", errors, "errors", "d")
        say("sync_hub_500_spokes_hub_cpu", 100 * out["cpu"] / out["elapsed"], "% of one core")
        if out["errors"]:
            note(f"errors by kind: {out['errors']}")
        note(f"simulated {args.spokes} spokes, each a round every {period:g} s for {args.duration:g} s "
             f"(the rate of {args.spokes * 60 / period:.0f} spokes syncing every 60 s)")
        say("sync_machine_load_avg_at_end", os.getloadavg()[0], "", ".2f")
        say_speed("end")
    finally:
        hub.stop()
        hub_db.dispose()


def main(argv: list[str] | None = None) -> None:
    import argparse
    import logging

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sync-hub", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--pull-rows", type=int, default=100_000)
    parser.add_argument("--push-rows", type=int, default=100_000)
    parser.add_argument("--hub-max", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--both-repeats", type=int, default=15)
    parser.add_argument("--no-yardstick", action="store_true", help="leave out the PouchDB runs between ours")
    # 100 spokes every 12 s: the request rate of 500 spokes every 60 s (each simulated spoke is a node of its own).
    parser.add_argument("--spokes", type=int, default=100)
    parser.add_argument("--period", type=float, default=12.0)
    parser.add_argument("--duration", type=float, default=60.0)
    args = parser.parse_args(argv)
    logging.disable(logging.INFO)
    work = Path(tempfile.mkdtemp(prefix="lianfu-sync-bench-"))
    work.chmod(0o755)
    started = time.perf_counter()
    try:
        raw_sqlite_url = f"sqlite:///{work / 'raw.db'}"
        fresh_schema(raw_sqlite_url)
        if args.sync_hub == "postgresql":
            from pgserver import PostgresServer, find_pg_bin

            if find_pg_bin() is None:
                print("sync: PostgreSQL binaries not found; use --sync-hub sqlite")
                return
            with PostgresServer(work / "pg") as server:
                hub_url = server.create_database("lianfu_sync_hub")
                raw_url = server.create_database("lianfu_sync_raw")
                fresh_schema(raw_url)
                run(work, hub_url, raw_sqlite_url, raw_url, args)
        else:
            raw_url = f"sqlite:///{work / 'raw-hub.db'}"
            fresh_schema(raw_url)
            run(work, f"sqlite:///{work / 'hub' / 'lianfu.db'}", raw_sqlite_url, raw_url, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        note(f"sync benchmarks took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
