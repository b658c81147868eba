"""The campaign's federation: a hub on a real PostgreSQL, N spokes enrolled and served, each behind a fault proxy.

The first three spokes are the demo's nodes (sc-shanghai, sc-suzhou and ws-demo-1, which lies under sc-shanghai, so
two spokes share its rows); more are sub-centers added at the hub, each with its head's account.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

import httpx
from sqlalchemy import select

from common.db import Database
from common.demo import DEMO_PASSWORD
from common.models import Node, User
from common.settings import load_settings
from tests.chaos.proxy import FaultProxy, ProxyLoop
from tests.live_federation import Federation
from tests.pgserver import PostgresServer
from tests.sync_support import migrated_spoke_database

# node, its head's username, the region code of the enterprises its head adds
DEMO_SPOKES = [("sc-shanghai", "subcenter_sh", "310115"), ("sc-suzhou", "subcenter_sz", "320505"),
               ("ws-demo-1", "workstation_1", "310115")]
WORKSTATION_HEADS = {"workstation_1"}  # role `enterprise`: keeps the roster of its node, adds no enterprise
# Regions of the sub-centers added for campaigns of more than three spokes: (node region, enterprise region).
EXTRA_REGIONS = [("330100", "330106"), ("440300", "440305"), ("110000", "110105"), ("510100", "510107"),
                 ("650100", "650102"), ("320100", "320102"), ("340100", "340102"), ("420100", "420102")]


@dataclass
class Spoke:
    node: str
    username: str
    region_code: str
    role: str
    proxy: FaultProxy
    url: str = ""
    client: httpx.Client | None = None
    csrf: str = ""
    subtree: list[str] = field(default_factory=list)


def spoke_plan(count: int) -> list[tuple[str, str, str, str | None]]:
    """(node, head's username, enterprise region, node region to create or None for a demo node) for `count`
    spokes."""
    plan: list[tuple[str, str, str, str | None]] = [(n, u, r, None) for n, u, r in DEMO_SPOKES[:count]]
    for number in range(len(plan) + 1, count + 1):
        node_region, region = EXTRA_REGIONS[number % len(EXTRA_REGIONS)]
        plan.append((f"sc-chaos-{number:02d}", f"chaos_head_{number:02d}", region, node_region))
    return plan


def prepare_hub(db_url: str, hub_dir: Path, plan: list[tuple[str, str, str, str | None]],
                enterprises: int) -> dict[str, str]:
    """In one transaction at the hub, as `lianfu hub seed-demo` and `lianfu hub enrollment-code` do (in this process,
    to spare starting those): the demo world, sub-center nodes with their heads (password: the demo's) as an
    approval leaves them, and an enrollment code for every spoke of the plan; the codes by node."""
    from common.audit import trail as audit
    from common.federation.service import add_node, issue_enrollment_code
    from common.identity.passwords import hash_password
    from hub.cli import hub_transaction
    from hub.seed import seed_demo

    password_hash = hash_password(DEMO_PASSWORD)
    codes: dict[str, str] = {}
    # As the hub process is configured (tests/live_hub.py: plain-http cookies, so the data dir's key).
    with hub_transaction(load_settings("hub", db_url=db_url, data_dir=hub_dir, cookie_secure=False)) as session:
        seed_demo(session, enterprises)
        for node_id, username, _, node_region in plan:
            if node_region is not None and session.get(Node, node_id) is None:
                node = add_node(session, node_id, "subcenter", f"混沌测试{node_id[-2:]}分中心", "hub", node_region)
                head = User(username=username, role="subcenter", node_id=node_id, display_name=f"{node_id}主任",
                            password_hash=password_hash)
                session.add(head)
                session.flush()
                node.head_user_id = head.id
            codes[node_id] = issue_enrollment_code(session, node_id)
            audit.record(session, "hub", "enrollment-code", actor="cli", entity_type="node", entity_id=node_id)
    return codes


def subtree(db: Database, node: str) -> list[str]:
    with db.reads() as session:
        path = session.scalars(select(Node.path).where(Node.id == node)).one()
        return sorted(session.scalars(select(Node.id).where(Node.path.startswith(path))))


# --- people logged in, as a browser would be ------------------------------------------------------------------------

def follow(browser: httpx.Client, response: httpx.Response, limit: int = 10) -> httpx.Response:
    for _ in range(limit):
        if response.status_code not in (301, 302, 303, 307):
            return response
        response = browser.get(urljoin(str(response.url), response.headers["location"]))
    raise RuntimeError("too many redirects")


def fill_login_form(browser: httpx.Client, page: httpx.Response, username: str) -> httpx.Response:
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    target = re.search(r'name="next" value="([^"]*)"', page.text)
    if not csrf:
        raise RuntimeError(f"no login form at {page.url}: {page.status_code} {page.text[:300]}")
    form = {"csrf_token": csrf.group(1), "username": username, "password": DEMO_PASSWORD,
            "next": target.group(1).replace("&amp;", "&") if target else "/"}
    return browser.post(urljoin(str(page.url), "/login"), data=form)


def logged_in(base_url: str, username: str, timeout: float = 30) -> tuple[httpx.Client, str]:
    """A client logged in at `base_url` (a spoke sends the person to the hub's login and back) and its CSRF token."""
    browser = httpx.Client(timeout=timeout, headers={"Accept": "text/html"})
    page = follow(browser, browser.get(f"{base_url}/login"))
    home = follow(browser, fill_login_form(browser, page, username))
    if home.status_code != 200 or not str(home.url).startswith(base_url):
        raise RuntimeError(f"{username} could not log in at {base_url}: {home.status_code} {home.url}")
    return browser, csrf_of(browser, base_url)


def csrf_of(browser: httpx.Client, base_url: str) -> str:
    page = browser.get(f"{base_url}/visits/new")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    if not found:
        raise RuntimeError(f"no CSRF token on {base_url}/visits/new: {page.status_code}")
    return found.group(1)


class World:
    """PostgreSQL, the hub, the spokes and their proxies: built by `start`, torn down by `close`."""

    def __init__(self, root: Path, spokes: int, sync_interval: float, log: Callable[[str], None]) -> None:
        self.root = root
        self.count = spokes
        self.sync_interval = sync_interval
        self.log = log
        self.pg: PostgresServer | None = None
        self.fed: Federation | None = None
        self.proxies = ProxyLoop()
        self.spokes: dict[str, Spoke] = {}
        self.db_url = ""
        self.office: httpx.Client | None = None
        self.office_csrf = ""
        self.codes: dict[str, str] = {}

    def start(self) -> None:
        # The suite's clusters commit asynchronously; here an answered commit must survive PostgreSQL stopped as by a
        # crash (pg_ctl -m immediate), as on a production server.
        self.pg = PostgresServer(self.root, settings={"synchronous_commit": "on"})
        self.pg.start()
        self.db_url = self.pg.create_database("lianfu_chaos")
        self.log(f"PostgreSQL on port {self.pg.port}")
        self.fed = Federation(enterprises=12, timeout=90, db_url=self.db_url,
                              spoke_env={"LIANFU_SYNC_INTERVAL": str(self.sync_interval)})
        # The spokes reach the hub through proxies: its issuer is its configured public URL, not the Host header.
        self.fed.hub_env["LIANFU_BASE_URL"] = self.fed.hub_url
        plan = spoke_plan(self.count)
        self.log("seeding the hub")
        self.codes = prepare_hub(self.db_url, self.fed.hub_dir, plan, self.fed.enterprises)
        self.fed.start_hub()
        self.log(f"hub at {self.fed.hub_url}")
        migrated_spoke_database(self.root / "schema" / "lianfu.db")  # the schema migrated once, before the copies
        hub_db = Database.connect(self.db_url)
        try:
            # A few at a time: enrolling is mostly waiting on processes starting and on the hub.
            with ThreadPoolExecutor(max_workers=3) as pool:
                for spoke in pool.map(lambda step: self._add_spoke(hub_db, *step[:3]), plan):
                    self.spokes[spoke.node] = spoke
        finally:
            hub_db.dispose()
        self.office, self.office_csrf = logged_in(self.fed.hub_url, "office")

    def _add_spoke(self, hub_db: Database, node: str, username: str, region: str) -> Spoke:
        assert self.fed is not None
        # Enrollment finds the spoke's database migrated already (one copy of a schema migrated once).
        migrated_spoke_database(self.fed.spoke_dir(node) / "lianfu.db")
        self.fed.enroll(node, self.codes[node])
        proxy = FaultProxy(self.proxies, self.fed.hub_port, node)
        self.fed.point_spoke_at(node, proxy.url)
        role = "enterprise" if username in WORKSTATION_HEADS else "subcenter"
        spoke = Spoke(node, username, region, role, proxy, subtree=subtree(hub_db, node))
        self.log(f"spoke {node} enrolled")
        spoke.url = self.fed.start_spoke(node)
        spoke.client, spoke.csrf = logged_in(spoke.url, username)
        self.log(f"spoke {node} serves at {spoke.url}, reaches the hub through :{proxy.port}")
        return spoke

    def close(self) -> None:
        for spoke in self.spokes.values():
            if spoke.client is not None:
                spoke.client.close()
            spoke.proxy.close()
        if self.office is not None:
            self.office.close()
        if self.fed is not None:
            self.fed.close()
        self.proxies.close()
        if self.pg is not None:
            self.pg.stop()
