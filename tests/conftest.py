"""Test harness: a real PostgreSQL started for the run, SQLite files per worker, the demo world, logged-in clients."""
from __future__ import annotations

import os
import re
import secrets
import tempfile
from pathlib import Path
from typing import Any, Iterator

import pytest
from litestar.testing import TestClient
from sqlalchemy import text

from common.bootstrap import ensure_reference_data
from common.db import Database
from common.migrate import upgrade
from common.settings import Settings
from pgserver import PostgresServer, find_pg_bin

PG_ENV = "LIANFU_TEST_PG_URL"
PG_SKIP_ENV = "LIANFU_TEST_PG_SKIP"
_server: PostgresServer | None = None
_seed_templates: Path | None = None


def pytest_configure(config: pytest.Config) -> None:
    """The controller process starts one PostgreSQL server and makes the folder of seeded hub data dirs
    (tests/live_hub.py: seed_demo_into); xdist workers inherit both."""
    global _server, _seed_templates
    from live_hub import SEED_TEMPLATES_ENV

    if not hasattr(config, "workerinput") and not os.environ.get(SEED_TEMPLATES_ENV):
        _seed_templates = Path(tempfile.mkdtemp(prefix="lianfu-seeded-"))
        os.environ[SEED_TEMPLATES_ENV] = str(_seed_templates)
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
    global _server, _seed_templates
    if _seed_templates is not None:
        import shutil

        shutil.rmtree(_seed_templates, ignore_errors=True)
        _seed_templates = None
    if _server is not None:
        _server.stop()  # removes the cluster it made inside the base folder
        import shutil

        shutil.rmtree(_server.base_dir, ignore_errors=True)
        _server = None


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Tests spread one by one over the workers, except a module with a module-scoped fixture (a federation, a
    browser with its hub): its tests stay on one worker, so its costly setup runs once rather than once per worker.
    The modules of long tests (real processes killed and restarted, generated histories) are kept whole too: the
    scheduler hands out the largest groups first, so they start early instead of leaving one worker busy at the end."""
    from xdist.scheduler import LoadScopeScheduling

    shared: dict[str, bool] = {}
    long_running = {"tests/sync/test_sync_faults.py", "tests/sync/test_sync_properties.py"}

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


# --- a migrated database per worker and kind, copied fresh for each test that uses it ---------------------------
#
# Each state a test may start from (migrated and empty; with the reference data; with the demo world) is built once
# per worker and kind and kept as a snapshot: a template database on PostgreSQL, a file on SQLite. A test gets a
# fresh copy of the one it starts from, so no test sees another's rows and none pays for building the world again.

_EMPTY, _REFERENCE, _WORLD = "empty", "reference", "world"
_snapshots: dict[tuple[str, str], str] = {}
_worlds: dict[str, dict[str, Any]] = {}
_copies = 0
_current_pg: dict[str, str] = {}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def db_kind(request: pytest.FixtureRequest) -> str:
    return request.param


def _pg_admin() -> Any:
    from sqlalchemy import create_engine

    if os.environ.get(PG_SKIP_ENV):
        pytest.skip(os.environ[PG_SKIP_ENV])
    return create_engine(os.environ[PG_ENV], isolation_level="AUTOCOMMIT", poolclass=_null_pool())


def _null_pool() -> Any:
    from sqlalchemy.pool import NullPool

    return NullPool


def _pg_url(name: str) -> str:
    return os.environ[PG_ENV].rsplit("/", 1)[0] + f"/{name}"


def _pg_copy(template: str, name: str) -> str:
    """`name` made anew as a copy of the database `template` (which nobody may be connected to)."""
    engine = _pg_admin()
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY'))
    finally:
        engine.dispose()
    return _pg_url(name)


def _sqlite_copy(source: str, target: Path) -> str:
    import shutil

    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return f"sqlite:///{target}"


def _snapshot_settings(url: str, data_dir: Path) -> Settings:
    return Settings(role="hub", node_id="hub", data_dir=data_dir, db_url=url,
                    secret_key="test-secret-key-0123456789abcdef", cookie_secure=True)


def _snapshot(kind: str, level: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The snapshot of `level` for `kind` on this worker: a template database's name or a SQLite file's path."""
    key = (kind, level)
    if key in _snapshots:
        return _snapshots[key]
    if level == _EMPTY:
        url = fresh_url(kind, tmp_path_factory, "snapshot_empty")
        upgrade(url)
    else:
        below = _snapshot(kind, _REFERENCE if level == _WORLD else _EMPTY, tmp_path_factory)
        url = _copy(kind, below, f"snapshot_{level}", tmp_path_factory)
        database = Database.connect(url)
        try:
            if level == _REFERENCE:
                with database.transaction() as session:
                    ensure_reference_data(session, _snapshot_settings(url, tmp_path_factory.mktemp("snapshot")))
            else:
                _worlds[kind] = build_world(database)
        finally:
            database.dispose()
    _snapshots[key] = url.rsplit("/", 1)[1] if kind == "postgresql" else url.split("sqlite:///", 1)[1]
    return _snapshots[key]


def _copy(kind: str, snapshot: str, label: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    if kind == "postgresql":
        return _pg_copy(snapshot, f"lianfu_{label}_{worker_id()}")
    return _sqlite_copy(snapshot, tmp_path_factory.mktemp(label) / "lianfu.db")


def _level(request: pytest.FixtureRequest) -> str:
    names = request.fixturenames
    return _WORLD if "world" in names else _REFERENCE if "db" in names else _EMPTY


@pytest.fixture
def db_url(db_kind: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database of its own for the test, at the state it starts from (empty, reference data, demo world)."""
    global _copies
    level = _level(request)
    snapshot = _snapshot(db_kind, level, tmp_path_factory)
    _copies += 1
    # Two PostgreSQL names used in turn: the previous test's copy is dropped only when the next but one needs it.
    return _copy(db_kind, snapshot, f"test{_copies % 2}", tmp_path_factory)


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
def world(db: Database, db_kind: str) -> dict[str, Any]:
    """Nodes and accounts of the contract, and per tenant an enterprise with a person, a visit and a case (copied
    with the database from the worker's snapshot, built by `build_world`)."""
    import copy

    return copy.deepcopy(_worlds[db_kind])


def build_world(db: Database) -> dict[str, Any]:
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

    def __init__(self, app: Any, beside: "Client | None" = None) -> None:
        """`beside`: a client of the same app already running, whose event loop and lifespan this one shares (a
        browser of its own, with its own cookies, on the one server), as in production every person's requests
        reach one app."""
        self.http = TestClient(app, base_url="https://testserver.local")
        self.beside = beside
        if beside is None:
            self.http.__enter__()
        else:
            self.http.blocking_portal = beside.http.blocking_portal
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

    def start_session(self, username: str) -> bool:
        """Logged in as the form logs in a person of the demo world with the demo password (the same throttle, audit
        and session rows, the same cookies) without verifying the password with argon2 at every login of the suite.
        False, having changed nothing, when the form would not simply let them in (another password, a second
        factor, a lock, a node out of service): the caller then logs in through the form."""
        from common.audit import trail as audit
        from common.federation import nodestate
        from common.identity import throttle
        from common.identity import totp
        from common.models import User
        from common.web.auth import cookie_names, csrf_token_for, open_session
        from sqlalchemy import select

        app = self.http.app
        settings, database = app.state.settings, app.state.db
        address = "testclient"  # the TestClient's requests come from there, with its User-Agent
        user_agent = self.http.headers.get("user-agent", "")
        with database.transaction() as session:
            user = session.scalars(select(User).where(User.username == username, User.deleted_at.is_(None))).first()
            if (user is None or not user.active or user.password_hash != _HASH.get("demo")
                    or throttle.check(session, username, address, app.state.clock()) is not None
                    or nodestate.halt_of(session, user.node_id) is not None or totp.has_totp(session, user.id)):
                session.rollback()
                return False
            throttle.record_success(session, username)
            audit.record(session, settings.node_id, "login.ok", actor=user.username, actor_id=user.id,
                         entity_type="user", entity_id=user.id, address=address)
            token = open_session(session, settings, user, address, user_agent)
        names = cookie_names(settings)
        csrf_cookie = secrets.token_urlsafe(32)
        host = self.http.base_url.host
        self.http.cookies.set(names["csrf"], csrf_cookie, domain=host, path="/")
        self.http.cookies.set(names["session"], token, domain=host, path="/")
        self.csrf = csrf_token_for(settings, csrf_cookie, token)
        self.http.headers["X-CSRF-Token"] = self.csrf
        return True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.http, name)

    def close(self) -> None:
        if self.beside is None:
            self.http.__exit__(None, None, None)
        else:
            del self.http.blocking_portal  # nothing else to end: its requests ran on the other client's loop


@pytest.fixture
def clients(settings: Settings, db: Database, world: dict[str, Any], request: pytest.FixtureRequest) -> Iterator[Any]:
    """`clients("office")` → a client logged in as that demo account (one per name per test).

    The clients of a test share one app, as every person shares the server (building an app is the costliest part of
    a client); a module that moves one client's app state (its clock) sets `APP_PER_CLIENT = True` and each of its
    clients gets an app of its own. A session is opened for the account as the login form opens it
    (`Client.start_session`); a module whose subject is the login itself sets `REAL_LOGIN = True` and every client
    of it logs in through the form.
    """
    from hub.app import create_app

    real_login = getattr(request.module, "REAL_LOGIN", False)
    app_per_client = getattr(request.module, "APP_PER_CLIENT", False)

    made: dict[str, Client] = {}

    def get(username: str | None = None) -> Client:
        key = username or ""
        if key not in made:
            first = next(iter(made.values()), None)
            if app_per_client or first is None:
                client = Client(create_app(settings))
            else:
                client = Client(first.http.app, beside=first)
            if username:
                if real_login or not client.start_session(username):
                    response = client.login(username)
                    assert response.status_code == 303, response.text
            else:
                client.fetch_csrf()
            made[key] = client
        return made[key]

    yield get
    # Those that share an app first, the one that runs its lifespan last.
    for client in sorted(made.values(), key=lambda c: c.beside is None):
        client.close()
