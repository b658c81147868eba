"""A hub the size of the city's, for the benchmarks: the demo's nodes and accounts (hub/seed.py), N enterprises with
five people each on average, a year of visits to most of them, cases with their timelines, more accounts and a long
audit trail.

Rows go in by COPY at PostgreSQL (sync/bulk.py insert_rows), so 100,000 enterprises and their 250,000 people take
seconds, not the minutes of row-by-row inserts. A database that already holds N enterprises is left as it is, so a
second run of a benchmark against the same URL starts at once.
"""
from __future__ import annotations

import random
import time
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, select
from uuid_utils.compat import uuid7

from common.bootstrap import ensure_reference_data
from common.clock import clock
from common.db import Database
from common.demo import DEMO_PASSWORD
from common.migrate import upgrade
from common.models import AuditEntry, AuditHead, Enterprise, Person, Unit, User, Visit
from common.audit.trail import GENESIS, entry_hash
from common.settings import Settings
from common.validation import make_id_number
from sync.bulk import insert_rows

CHUNK = 20_000
FINDINGS = ["企业安全管理制度健全，员工情绪稳定。", "发现隐患，已现场指导整改。", "宿舍消防设施完好，值班记录齐全。"]
HAZARDS = ["宿舍消防通道堆放杂物", "工地临时用电不规范", "外来务工人员登记不全", "工资发放记录缺失"]
ACTIONS = [("login", "user"), ("update", "enterprise"), ("create", "person"), ("update", "person"),
           ("create", "visit"), ("export", "enterprise"), ("reveal", "person")]


def enterprise_count(db: Database) -> int:
    with db.reads() as session:
        return int(session.scalar(select(func.count()).select_from(Enterprise)) or 0)


def seed(url: str, enterprises: int, people_per_enterprise: float = 5.0, visits_per_enterprise: float = 1.8,
         cases: int = 400, accounts: int = 300, audit_entries: int = 200_000, seed_value: int = 20200812) -> dict[str, float]:
    """Seed the hub at `url` up to `enterprises` (nothing is added to one already that big); seconds per part."""
    from hub.seed import seed_cases, seed_demo

    upgrade(url)
    db = Database.connect(url)
    timings: dict[str, float] = {}
    try:
        have = enterprise_count(db)
        if have >= enterprises:
            return timings
        rng = random.Random(seed_value + have)
        started = time.perf_counter()
        with db.transaction() as session:
            ensure_reference_data(session, Settings())
            seed_demo(session, enterprises - have)
        timings["roster"] = time.perf_counter() - started
        roster = _roster(db)
        started = time.perf_counter()
        timings["people_rows"] = _people(db, roster, people_per_enterprise, rng)
        timings["people"] = time.perf_counter() - started
        started = time.perf_counter()
        timings["visits_rows"] = _visits(db, roster, visits_per_enterprise, rng)
        timings["visits"] = time.perf_counter() - started
        started = time.perf_counter()
        with db.transaction() as session:
            users = {u.username: u for u in session.scalars(select(User))}
            sample = [{"id": e[0], "node_id": e[1]} for e in rng.sample(roster, min(len(roster), cases * 3))]
            seed_cases(session, sample, users, rng, cases)
        timings["cases"] = time.perf_counter() - started
        started = time.perf_counter()
        _accounts(db, accounts)
        if not have:
            _audit(db, audit_entries, rng)
        timings["accounts_and_audit"] = time.perf_counter() - started
        started = time.perf_counter()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE" if db.dialect == "postgresql" else "ANALYZE")
        timings["analyze"] = time.perf_counter() - started
        return timings
    finally:
        db.dispose()


def _roster(db: Database) -> list[tuple[Any, str, str]]:
    with db.reads() as session:
        return [tuple(r) for r in session.execute(
            select(Enterprise.id, Enterprise.node_id, Enterprise.risk_level).order_by(Enterprise.id))]


def _people(db: Database, roster: list[tuple[Any, str, str]], per_enterprise: float, rng: random.Random) -> int:
    """More people, spread over the roster, up to `per_enterprise` a head on average (the demo gives two or three);
    the rows of people there are afterwards."""
    from hub.seed import GIVEN, POSITIONS, SURNAMES

    now = datetime.now(timezone.utc)
    with db.transaction() as session:
        have = session.scalar(select(func.count()).select_from(Person)) or 0
        wanted = max(0, round(len(roster) * per_enterprise) - have)
        rows: list[dict[str, Any]] = []
        for k in range(wanted):
            enterprise_id, node_id, _ = roster[rng.randrange(len(roster))]
            birth = date(1960, 1, 1) + timedelta(days=rng.randint(0, 365 * 40))
            rows.append({
                "id": uuid7(), "node_id": node_id, "enterprise_id": enterprise_id,
                "name": rng.choice(SURNAMES) + rng.choice(GIVEN),
                "id_number": make_id_number("320681", birth, 800 + k % 100), "phone": f"136{k % 100_000_000:08d}",
                "position": rng.choice(POSITIONS), "left_on": None, "created_at": now, "updated_at": now,
                "version": clock.now(), "deleted_at": None,
            })
            if len(rows) >= CHUNK:
                insert_rows(session, Person.__table__, rows)
                rows.clear()
        insert_rows(session, Person.__table__, rows)
    return have + wanted


def _visits(db: Database, roster: list[tuple[Any, str, str]], per_enterprise: float, rng: random.Random) -> float:
    """Visits over the last year: the riskier an enterprise the more often it is seen; a fifth never are."""
    now = datetime.now(timezone.utc)
    share = {"high": 2.0, "medium": 1.3, "low": 0.8}
    rows: list[dict[str, Any]] = []
    made = 0
    with db.transaction() as session:
        for enterprise_id, node_id, risk in roster:
            if rng.random() < 0.2:
                continue
            for _ in range(max(0, round(rng.expovariate(1 / (per_enterprise * share.get(risk, 1.0)))))):
                visited = now - timedelta(days=rng.randint(1, 365), hours=rng.randint(0, 8))
                hazards = [] if rng.random() < 0.7 else [{"description": rng.choice(HAZARDS),
                                                          "severity": rng.choice(["low", "medium", "high"])}]
                rows.append({
                    "id": uuid7(), "node_id": node_id, "enterprise_id": enterprise_id, "visited_at": visited,
                    "kind": rng.choice(["safety", "safety", "legal_education", "follow_up"]), "visitors": "上海分中心主任",
                    "checklist": {"fire_safety": True, "security_staff": rng.random() < 0.8}, "topic": "",
                    "findings": rng.choice(FINDINGS), "hazards": hazards, "guidance": "加强消防安全培训，落实值班制度。",
                    "attendance": None, "latitude": None, "longitude": None, "visitor_id": None,
                    "created_at": visited, "updated_at": visited, "version": clock.now(), "deleted_at": None,
                })
            if len(rows) >= CHUNK:
                insert_rows(session, Visit.__table__, rows)
                made += len(rows)
                rows.clear()
        insert_rows(session, Visit.__table__, rows)
        made += len(rows)
    return made


def _accounts(db: Database, count: int) -> None:
    """The staff of the sub-centers and units, as a hub of a city has them (one password hash: the demo's)."""
    now = datetime.now(timezone.utc)
    with db.transaction() as session:
        if session.scalar(select(func.count()).select_from(User).where(User.username.startswith("staff_"))):
            return  # a second run
        password_hash = session.scalar(select(User.password_hash).where(User.username == "office"))
        units = list(session.scalars(select(Unit.id)))
        nodes = ["hub", "sc-shanghai", "sc-suzhou"]
        rows = []
        for k in range(count):
            liaison = k % 3 == 0
            rows.append({
                "id": uuid7(), "node_id": "hub" if liaison else nodes[k % len(nodes)], "username": f"staff_{k:04d}",
                "display_name": f"工作人员{k:04d}", "role": "liaison" if liaison else "subcenter",
                "unit_id": units[k % len(units)] if liaison else None, "is_leader": False,
                "password_hash": password_hash or DEMO_PASSWORD, "phone": f"137{k:08d}", "active": True, "email": None,
                "created_at": now, "updated_at": now, "version": clock.now(), "deleted_at": None,
            })
        insert_rows(session, User.__table__, rows)


def _audit(db: Database, count: int, rng: random.Random) -> None:
    """`count` more entries on the hub's chain, linked as the trail links them (plain sha256: no key here)."""
    now = datetime.now(timezone.utc)
    with db.transaction() as session:
        head = session.scalars(select(AuditHead).where(AuditHead.node_id == "hub")).first()
        seq, prev = (head.seq, head.hash) if head is not None else (0, GENESIS)
        rows: list[dict[str, Any]] = []
        for k in range(count):
            seq += 1
            action, entity_type = rng.choice(ACTIONS)
            at = now - timedelta(seconds=(count - k) * 60)
            entry = AuditEntry(id=uuid7(), node_id="hub", seq=seq, at=at, actor="office", actor_id=None, action=action,
                               entity_type=entity_type, entity_id=str(uuid7()), detail={"bench": k}, address="10.0.0.1",
                               prev_hash=prev)
            prev = entry_hash(entry)
            rows.append({"id": entry.id, "node_id": "hub", "seq": seq, "at": at, "actor": "office", "actor_id": None,
                         "action": action, "entity_type": entity_type, "entity_id": entry.entity_id,
                         "detail": entry.detail, "address": "10.0.0.1", "prev_hash": entry.prev_hash, "hash": prev,
                         "created_at": at, "updated_at": at, "version": clock.now(), "deleted_at": None,
                         "field_versions": None})
            if len(rows) >= CHUNK:
                insert_rows(session, AuditEntry.__table__, rows)
                rows.clear()
        insert_rows(session, AuditEntry.__table__, rows)
        if head is None:
            session.add(AuditHead(node_id="hub", seq=seq, hash=prev))
        else:
            head.seq, head.hash = seq, prev
