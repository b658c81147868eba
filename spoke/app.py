"""The spoke application: one node's slice on SQLite, people logged in through the hub or offline, its sync schedule."""
from __future__ import annotations

from litestar import Litestar

from common.settings import Settings, ensure_secret_key, load_settings
from common.web.app import build_app
from spoke.bearer import SpokeBearerVerifier
from spoke.hub_only import HUB_ONLY_HANDLERS
from spoke.login import SPOKE_LOGIN_HANDLERS
from spoke.schedule import SpokeSchedule
from spoke.sync_page import SPOKE_SYNC_HANDLERS
from sync import capture
from sync.hub_link import HubLink, SpokeConfig
from sync.client import SpokeSync


class NotEnrolled(RuntimeError):
    """The data dir holds no enrolled spoke."""


def spoke_settings(settings: Settings | None = None) -> tuple[Settings, SpokeConfig]:
    settings = settings or load_settings("spoke")
    config = SpokeConfig.load(settings.data_dir)
    if config is None:
        raise NotEnrolled(f"{settings.data_dir} holds no enrolled spoke: run `lianfu spoke enroll --hub URL --code CODE`")
    return ensure_secret_key(settings.with_overrides(node_id=config.node_id)), config


def create_app(settings: Settings | None = None) -> Litestar:
    """`settings=None` reads the environment; the scheduled sync runs only under `lianfu spoke serve`."""
    settings, config = spoke_settings(settings)
    db = capture.spoke_database(settings.database_url, settings.node_id)
    link = HubLink(settings.data_dir, config)
    schedule = SpokeSchedule(db, settings, link, enabled=settings.sync.scheduled)
    app = build_app(settings, db, config.node_name, login_handlers=SPOKE_LOGIN_HANDLERS, extra_handlers=[*SPOKE_SYNC_HANDLERS, *HUB_ONLY_HANDLERS],
                    on_startup=[schedule.start], on_shutdown=[schedule.stop, link.close],
                    form_targets=[config.hub_url, config.issuer])  # signing in and out continues at the hub
    app.state.hub_link = link
    # An attachment opened here whose bytes have not come yet is fetched from the hub then.
    app.state.fetch_blob = lambda sha: SpokeSync(db, app.state.hub_link, settings.data_dir, settings.node_id).fetch_blob(sha)
    app.state.schedule = schedule
    app.state.bearer_verifier = SpokeBearerVerifier(db, settings, link,
                                                    cache_seconds=settings.sync.introspection_cache_seconds)
    return app
