"""The hub application: the office's node, every tenant, the API and pages for all roles."""
from __future__ import annotations

from litestar import Litestar
from sqlalchemy import select

from common.attachments.dbblobs import blob_store_for
from common.audit.trail import chain_key
from common.db import Database
from common.models import Node
from common.settings import Settings, check_hub_settings, ensure_secret_key, load_settings
from common.web.app import build_app
from hub import audit_checkpoints
from common.identity.account import ACCOUNT_HANDLERS
from hub.enrollment import ENROLLMENT_HANDLERS
from hub.hosts import Heartbeat
from hub.office import HUB_API_HANDLERS, OFFICE_HANDLERS
from hub.oauth.admin import ADMIN_HANDLERS
from hub.scheduler import HubScheduler
from hub.sync_page import SYNC_PAGE_HANDLERS
from hub.oauth.bearer import BearerVerifier
from hub.oauth.routes import OAUTH_HANDLERS
from sync import capture
from sync.directory import directory
from sync.hub_api import SYNC_HANDLERS


def create_app(settings: Settings | None = None, *, jobs: bool = False) -> Litestar:
    """`settings=None` reads the environment; nothing is built at import time. `jobs`: this process takes part in
    running the hub's scheduled jobs (hub/scheduler.py) when LIANFU_HUB_SCHEDULER allows it — `lianfu hub serve`
    asks for it, the apps tests build in-process do not."""
    if settings is None:
        settings = load_settings("hub")
        check_hub_settings(settings)
    settings = ensure_secret_key(settings)
    # The hub's sessions carry its audit key (derived from the secret key, never stored): its chain is keyed.
    db = Database.connect(settings.database_url, audit_key=chain_key(settings.secret_key))
    capture.install(db, settings.node_id, outbox=False)
    with db.reads() as session:
        node_name = session.scalar(select(Node.name).where(Node.id == settings.node_id)) or settings.home_city_name
    scheduler = HubScheduler(db, settings) if jobs and settings.notify.scheduler else None
    # A served hub (the one that takes part in the jobs) records itself for `lianfu hub status`.
    heartbeat = Heartbeat(db, settings) if jobs else None
    on_startup = [part.start for part in (scheduler, heartbeat) if part is not None]
    on_shutdown = [part.stop for part in (heartbeat, scheduler) if part is not None]
    app = build_app(settings, db, node_name, api_handlers=HUB_API_HANDLERS, extra_handlers=[*OFFICE_HANDLERS, *OAUTH_HANDLERS, *ADMIN_HANDLERS, *ENROLLMENT_HANDLERS, *ACCOUNT_HANDLERS, directory, *SYNC_HANDLERS, *SYNC_PAGE_HANDLERS],
                    on_startup=on_startup, on_shutdown=on_shutdown, blobs=blob_store_for(settings, db))
    app.state.scheduler = scheduler
    app.state.at_hub = True  # the applications' decisions and enrollment codes are the hub's (OFFICE_HANDLERS)
    # The API also takes the hub's own access tokens, verified against its signing keys.
    app.state.bearer_verifier = BearerVerifier(db, settings)
    # Signed checkpoints of the audit chain ride on the spokes' directory, which they keep as witnesses.
    app.state.audit_checkpoint = audit_checkpoints.issuer(db, settings)
    return app


def create_served_app() -> Litestar:
    """What `lianfu hub serve` runs in each worker: the app from the environment, taking part in the scheduled jobs."""
    return create_app(jobs=True)
