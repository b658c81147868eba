"""A federation in one process for the sync tests: the hub app behind a TestClient, spokes enrolled through it.

Spokes talk to the hub through the TestClient's transport: the same HTTP requests, bodies and headers as over a
socket, the hub's whole stack (authentication, CSRF exemptions, error handlers) in the path.
"""
from __future__ import annotations

import atexit
import contextlib
import shutil
import sqlite3
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from litestar.testing import TestClient
from sqlalchemy import func, select

from common.db import Database
from common.migrate import upgrade
from common.models import SyncOutbox, User
from common.policy import Principal, load_principal
from common.federation.service import issue_enrollment_code
from common.settings import Settings
from hub.app import create_app
from spoke.enroll import enroll
from sync import capture
from sync.entities import ENTITIES
from sync.hub_link import HubLink, SpokeConfig
from sync.client import RoundResult, SpokeSync

HUB_URL = "https://hub.test"


@dataclass
class SpokeNode:
    node: str
    settings: Settings
    db: Database
    link: HubLink

    def sync(self) -> RoundResult:
        return SpokeSync(self.db, self.link, self.settings.data_dir, self.node).round()

    def principal(self, username: str) -> Principal:
        with self.db.reads() as session:
            user = session.scalars(select(User).where(User.username == username)).one()
            return load_principal(session, user)

    def queued(self) -> int:
        with self.db.reads() as session:
            return int(session.scalar(select(func.count()).select_from(SyncOutbox)) or 0)


class Federation:
    def __init__(self, hub_settings: Settings, hub_db: Database, root: Path) -> None:
        self.hub_settings = hub_settings.with_overrides(base_url=HUB_URL)
        self.hub_db = hub_db
        # The tests' own writes at the hub stand for the office's: captured as the hub app captures them.
        capture.install(hub_db, "hub", outbox=False)
        self.root = root
        self.hub = TestClient(create_app(self.hub_settings), base_url=HUB_URL)
        self.hub.__enter__()
        self.spokes: dict[str, SpokeNode] = {}

    def close(self) -> None:
        for spoke in self.spokes.values():
            spoke.link.close()
            spoke.db.dispose()
        self.hub.__exit__(None, None, None)

    @property
    def transport(self) -> httpx.BaseTransport:
        return _Transport(self.hub._transport)  # noqa: SLF001 - the TestClient's in-process HTTP transport

    def enroll(self, node: str) -> SpokeNode:
        with self.hub_db.transaction() as session:
            code = issue_enrollment_code(session, node)
        settings = Settings(role="spoke", node_id=node, data_dir=self.root / node, secret_key="spoke-secret-" + node,
                            cookie_secure=True, base_url=f"https://{node}.test")
        migrated_spoke_database(settings.data_dir / "lianfu.db")
        # The sync tests drive the rounds themselves, the first one included.
        enroll(settings, HUB_URL, code, transport=self.transport, first_sync=False)
        config = SpokeConfig.load(settings.data_dir)
        assert config is not None
        db = capture.spoke_database(settings.database_url, node)
        spoke = SpokeNode(node, settings, db, HubLink(settings.data_dir, config, transport=self.transport))
        self.spokes[node] = spoke
        return spoke


_SCHEMA: list[Path] = []


def migrated_spoke_database(target: Path) -> None:
    """The spoke's SQLite file, migrated to head, put where enrollment prepares it (which then finds the schema at head
    and only adds the reference data): the migrations run once per process rather than at every enrollment."""
    if not _SCHEMA:
        folder = Path(tempfile.mkdtemp(prefix="lianfu-spoke-schema-"))
        atexit.register(shutil.rmtree, folder, True)
        upgrade(f"sqlite:///{folder / 'lianfu.db'}")
        _SCHEMA.append(folder / "lianfu.db")
    target.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(sqlite3.connect(_SCHEMA[0])) as source, contextlib.closing(sqlite3.connect(target)) as copy:
        source.backup(copy)


class _Transport(httpx.BaseTransport):
    """The TestClient's transport, usable by any httpx client (and closable by it without ending the TestClient)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self.inner.handle_request(request)


def rows(db: Database, entity_name: str) -> dict[str, dict[str, Any]]:
    """Every row of one synced table (tombstones too), by id, without what each node keeps for itself."""
    entity = next(e for e in ENTITIES if e.name == entity_name)
    with db.reads() as session:
        found = session.execute(select(entity.table)).mappings().all()
    kept = ("updated_at", "pushed_by", "pushed_version")  # the hub's note of whose push made a version
    return {str(r["id"]): {k: v for k, v in r.items() if k not in kept} for r in found}


def ids(db: Database, entity_name: str) -> set[str]:
    return set(rows(db, entity_name))


def new_uuid() -> str:
    return str(uuid.uuid4())
