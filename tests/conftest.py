"""Test harness: a real PostgreSQL started for the run, SQLite files per worker, the demo world, logged-in clients."""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterator

import pytest
from litestar.testing import TestClient
from sqlalchemy import text

from common.bootstrap import ensure_reference_data
from common.db import Database
from common.migrate import upgrade
from common.models import Base
from common.settings import Settings
from pgserver import PostgresServer, find_pg_bin

PG_ENV = "LIANFU_TEST_PG_URL"
PG_SKIP_ENV = "LIANFU_TEST_PG_SKIP"
_server: PostgresServer | None = None


def pytest_configure(config: pytest.Config) -> None:
    """The controller process starts one PostgreSQL server; xdist workers inherit its address."""
    global _server
    if hasattr(config, "workerinput") or os.environ.get(PG_ENV) or os.environ.get(PG_SKIP_ENV):
        return
    if find_pg_bin() is None:
        os.environ[PG_SKIP_ENV] = "PostgreSQL binaries (initdb, pg_ctl) are not installed on this machine"
        return
    base = Path(tempfile.mkdtemp(prefix="lianfu-pg-"))
    base.chmod(0o755)
    _server = PostgresServer(base)
    _server.start()
    os.environ[PG_ENV] = _server.url()


def pytest_unconfigure(config: pytest.Config) -> None:
    global _server
    if _server is not None:
        _server.stop()
        _server = None


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Tests spread one by one over the workers, except a module with a module-scoped fixture (a federation, a
    browser with its hub): its tests stay on one worker, so its costly setup runs once rather than once per worker.
    The modules of long tests (real processes killed and restarted, generated histories) are kept whole too: the
    scheduler hands out the largest groups first, so they start early instead of leaving one worker busy at the end."""
    from xdist.scheduler import LoadScopeScheduling

    shared: dict[str, bool] = {}
    long_running = {"tests/test_sync_faults.py", "tests/test_sync_properties.py"}

    def module_shares_setup(path: str) -> bool:
        if path not in shared:
            try:
                source = (config.rootpath / path).read_text(encoding="utf-8")
            except OSError:
                source = ""
            shared[path] = 'scope="module"' in source or path in long_running
        return shared[path]

    class ModuleWhereShared(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return path if module_shares_setup(path) else nodeid

    return ModuleWhereShared(config, log)


def pytest_report_header(config: pytest.Config) -> str:
    if os.environ.get(PG_SKIP_ENV):
        return f"PostgreSQL tests SKIPPED: {os.environ[PG_SKIP_ENV]}"
    return f"PostgreSQL for tests: {os.environ.get(PG_ENV, '(started by the controller)')}"


def worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def pg_database(name: str) -> str:
    """A fresh database on the shared server, named per worker."""
    if os.environ.get(PG_SKIP_ENV):
        pytest.skip(os.environ[PG_SKIP_ENV])
    admin_url = os.environ[PG_ENV]
    from sqlalchemy import create_engine

    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def fresh_url(kind: str, tmp_path_factory: pytest.TempPathFactory, label: str) -> str:
    if kind == "postgresql":
        return pg_database(f"lianfu_{label}_{worker_id()}")
    return f"sqlite:///{tmp_path_factory.mktemp(label) / 'lianfu.db'}"


# --- a migrated database per worker and kind, emptied before each test that uses it -------------------------

_migrated: dict[str, str] = {}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def db_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def db_url(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    if db_kind not in _migrated:
        url = fresh_url(db_kind, tmp_path_factory, "suite")
        upgrade(url)
        _migrated[db_kind] = url
    url = _migrated[db_kind]
    _empty(url)
    return url


def _empty(url: str) -> None:
    database = Database.connect(url)
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with database.engine.begin() as conn:
        if database.dialect == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f'DELETE FROM "{table}"'))
    database.dispose()


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(role="hub", node_id="hub", data_dir=tmp_path / "hub", db_url=db_url,
                    secret_key="test-secret-key-0123456789abcdef", cookie_secure=True)


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database.connect(settings.database_url)
    with database.transaction() as session:
        ensure_reference_data(session, settings)
    yield database
    database.dispose()


# --- the demo world: nodes, accounts and one row of each kind per tenant -------------------------------------

_HASH: dict[str, str] = {}


@pytest.fixture
def world(db: Database) -> dict[str, Any]:
    """Nodes and accounts of the contract, and per tenant an enterprise with a person, a visit and a case."""
    from common.identity.passwords import hash_password
    from common.policy import load_principal
    from common.bulletins import service as bulletins
    from common.cases import service as cases
    from common.federation import service as federation
    from common.roster import service as roster
    from common.visits import service as visits
    from hub.seed import ACCOUNTS, seed_reference_nodes
    from common.models import User

    if "demo" not in _HASH:
        _HASH["demo"] = hash_password("lianfu-demo")
    out: dict[str, Any] = {"users": {}, "enterprises": {}, "people": {}, "visits": {}, "cases": {}}
    with db.transaction() as session:
        seed_reference_nodes(session)
        for username, role, node, unit, leader, display in ACCOUNTS:
            session.add(User(username=username, role=role, node_id=node, unit_id=unit, is_leader=leader,
                             display_name=display, password_hash=_HASH["demo"]))
        session.flush()
        users = {u.username: u for u in session.query(User)}
        p = {name: load_principal(session, user) for name, user in users.items()}
        out["principals"] = p
        tenants = {"sh": ("sc-shanghai", "310115", "subcenter_sh"), "sz": ("sc-suzhou", "320505", "subcenter_sz"),
                   "ws": ("ws-demo-1", "310115", "workstation_1"), "hub": ("hub", "330106", "office")}
        from common.validation import make_credit_code, make_id_number
        from datetime import date

        for n, (key, (node, region, raiser)) in enumerate(tenants.items()):
            e = roster.create_enterprise(session, p["office"], {
                "name": f"启东测试{key}建设工程有限公司", "credit_code": make_credit_code("9", "1", region, f"{n + 1:08d}"),
                "region_code": region, "industry": "construction", "node": node, "address": "测试路1号"})
            person = roster.create_person(session, p["office"], {
                "enterprise_id": str(e.id), "name": f"张{key}", "id_number": make_id_number("320681", date(1980, 1, n + 1), 901),
                "phone": f"1380000000{n}", "position": "项目经理"})
            visit = None
            if node != "hub":
                visit = visits.create_visit(session, p["office"], {"enterprise_id": str(e.id), "visited_at": "2026-11-01T10:00:00",
                                                                    "kind": "safety", "findings": "正常"})
            case = cases.create_case(session, p[raiser], {"enterprise_id": str(e.id), "channel": "platform",
                                                          "category": "economic_dispute", "title": f"{key} 工程款纠纷"})
            out["enterprises"][key], out["people"][key], out["visits"][key], out["cases"][key] = e.id, person.id, visit and visit.id, case.id
        # Only Shanghai's case is dispatched to criminal investigation.
        cases.add_case_event(session, p["office"], out["cases"]["sh"], {"kind": "accepted"})
        cases.add_case_event(session, p["office"], out["cases"]["sh"], {"kind": "dispatched", "unit": "criminal-investigation"})
        b_all = bulletins.create_bulletin(session, p["office"], {"kind": "news", "title": "全体通知", "body": "内容", "targets": {"all": True}})
        b_sz = bulletins.create_bulletin(session, p["office"], {"kind": "warning", "title": "苏州预警", "body": "内容",
                                                                "targets": {"nodes": ["sc-suzhou"]}})
        a_sh = federation.create_application(session, p["subcenter_sh"], {
            "kind": "workstation", "name": "启东海工上海工作站", "region_code": "310115", "parent_node": "sc-shanghai",
            "host_enterprise_id": str(out["enterprises"]["sh"]), "head_name": "李站长", "head_phone": "13900000001"})
        a_sz = federation.create_application(session, p["subcenter_sz"], {
            "kind": "workstation", "name": "启东纺织昆山工作站", "region_code": "320583", "parent_node": "sc-suzhou",
            "host_enterprise_id": str(out["enterprises"]["sz"]), "head_name": "王站长", "head_phone": "13900000002"})
        out["bulletins"] = {"all": b_all.id, "sz": b_sz.id}
        out["applications"] = {"sh": a_sh.id, "sz": a_sz.id}
        out["users"] = {name: u.id for name, u in users.items()}
    return out


# --- HTTP clients -----------------------------------------------------------------------------------------------

CSRF_RE = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


class Client:
    """A TestClient for one person: logs in through the real form and sends the CSRF header like htmx does."""

    def __init__(self, app: Any) -> None:
        self.http = TestClient(app, base_url="https://testserver.local")
        self.http.__enter__()
        self.csrf = ""

    def fetch_csrf(self) -> str:
        page = self.http.get("/login")
        self.csrf = CSRF_RE.search(page.text).group(1)  # type: ignore[union-attr]
        return self.csrf

    def login(self, username: str, password: str = "lianfu-demo") -> Any:
        self.fetch_csrf()
        response = self.http.post("/login", data={"username": username, "password": password, "csrf_token": self.csrf,
                                                  "next": "/"}, follow_redirects=False)
        if response.status_code == 303:
            # The token is bound to the session: the one every page of the new session carries, worked out as the
            # app does (cheaper than rendering a page for it at every login of the suite).
            from common.web.auth import cookie_names, csrf_token_for

            settings = self.http.app.state.settings
            names = cookie_names(settings)
            self.csrf = csrf_token_for(settings, self.http.cookies[names["csrf"]], self.http.cookies[names["session"]])
        self.http.headers["X-CSRF-Token"] = self.csrf
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self.http, name)

    def close(self) -> None:
        self.http.__exit__(None, None, None)


@pytest.fixture
def clients(settings: Settings, db: Database, world: dict[str, Any]) -> Iterator[Any]:
    """`clients("office")` → a client logged in as that demo account (one per name per test).

    Each client gets its own app instance: a Litestar app runs one lifespan per test client.
    """
    from hub.app import create_app

    made: dict[str, Client] = {}

    def get(username: str | None = None) -> Client:
        key = username or ""
        if key not in made:
            client = Client(create_app(settings))
            if username:
                response = client.login(username)
                assert response.status_code == 303, response.text
            else:
                client.fetch_csrf()
            made[key] = client
        return made[key]

    yield get
    for client in made.values():
        client.close()
