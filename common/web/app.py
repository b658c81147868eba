"""Assemble a Litestar app for a node: the shared API, pages, errors, sessions and static files."""
from __future__ import annotations

from typing import Any, Sequence

from litestar import Litestar
from litestar.config.compression import CompressionConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

from common.cases.api import CaseController
from common.federation.api import ApplicationController, NodeController, UnitController
from common.bulletins.api import BulletinController
from common.visits.api import VisitController
from common.roster.api import EnterpriseController, PersonController
from common.attachments.blobs import Blobs, BlobStore
from common.db import Database
from common.models import utcnow
from common.settings import Settings
from common.web.api_docs import api_docs_plugins
from common.attachments.pages import ATTACHMENT_HANDLERS
from common.web.auth import before_request, require_principal, web_context_middleware
from common.web.errors import EXCEPTION_HANDLERS
from common.web.headers import SecurityHeaders
from common.identity.pages import LOGIN_HANDLERS
from common.federation.pages import APPLICATION_PAGE_HANDLERS
from common.bulletins.pages import BULLETIN_PAGE_HANDLERS
from common.cases.pages import CASE_PAGE_HANDLERS
from common.visits.pages import VISIT_PAGE_HANDLERS
from common.web.templating import STATIC
from common.web.xlsx import SKIP_COMPRESSION
from common.dashboard.pages import DASHBOARD_PAGE_HANDLERS
from common.roster.forms import ROSTER_FORM_HANDLERS
from common.roster.pages import ROSTER_PAGE_HANDLERS
from common.roster.exports import ROSTER_EXPORT_HANDLERS
from common.roster.import_pages import IMPORT_API_HANDLERS, IMPORT_HANDLERS
from common.cases.exports import CASE_EXPORT_HANDLERS
from common.visits.exports import VISIT_EXPORT_HANDLERS
from common.notify.api import NotificationController
from common.notify.pages import NOTIFICATION_PAGE_HANDLERS
from common.inforeports.api import InfoReportController
from common.inforeports.pages import INFO_REPORT_PAGE_HANDLERS
from common.tasks.api import TaskController
from common.tasks.pages import TASK_PAGE_HANDLERS
from common.meetings.api import SurveyController
from common.meetings.pages import SURVEY_PAGE_HANDLERS
from common.ops import logs
from common.ops.health import OPS_HANDLERS
from common.ops.metrics import metrics
from common.ops.requests import observe
from common.ops.version import package_version

VERSION = package_version()

API_HANDLERS: list[ControllerRouterHandler] = [
    EnterpriseController, PersonController, CaseController, VisitController, BulletinController,
    ApplicationController, NodeController, UnitController, NotificationController, *IMPORT_API_HANDLERS,
    InfoReportController, TaskController,
    SurveyController,
]


def build_app(settings: Settings, db: Database, node_name: str, extra_handlers: Sequence[ControllerRouterHandler] = (),
              login_handlers: Sequence[ControllerRouterHandler] = LOGIN_HANDLERS, on_startup: Sequence[Any] = (),
              api_handlers: Sequence[ControllerRouterHandler] = API_HANDLERS,
              on_shutdown: Sequence[Any] = (), form_targets: Sequence[str] = (), blobs: Blobs | None = None) -> Litestar:
    """`login_handlers`: the hub checks passwords itself; a spoke sends people to the hub (or lets them in offline).

    `api_handlers`: the JSON API every node answers; the hub's adds the office's own writes.

    `form_targets`: addresses of other nodes this node's forms lead to (a spoke's sign-out ends at its hub); the
    Content-Security-Policy allows them besides our own origin.

    `blobs`: where attachment files are kept; None: on disk in the data dir (a spoke; the hub chooses with
    LIANFU_BLOB_STORE, common/attachments/dbblobs.py: blob_store_for).
    """
    logs.set_node(settings.node_id)
    if blobs is None:
        blobs = BlobStore(settings.data_dir / "blobs", settings.max_upload_mb * 1024 * 1024)
    app = Litestar(
        route_handlers=[*OPS_HANDLERS, metrics, *api_handlers, *DASHBOARD_PAGE_HANDLERS, *ROSTER_PAGE_HANDLERS, *ROSTER_FORM_HANDLERS, *IMPORT_HANDLERS,
                        *VISIT_PAGE_HANDLERS, *CASE_PAGE_HANDLERS, *ROSTER_EXPORT_HANDLERS, *CASE_EXPORT_HANDLERS,
                        *VISIT_EXPORT_HANDLERS, *APPLICATION_PAGE_HANDLERS, *BULLETIN_PAGE_HANDLERS, *ATTACHMENT_HANDLERS,
                        *NOTIFICATION_PAGE_HANDLERS, *INFO_REPORT_PAGE_HANDLERS, *TASK_PAGE_HANDLERS,
                        *SURVEY_PAGE_HANDLERS,
                        *login_handlers, *extra_handlers,
                        create_static_files_router(path="/static", directories=[STATIC], include_in_schema=False)],
        # `clock` is what the login throttling and TOTP take as now: tests move it rather than sleep.
        # `at_hub`: the office decides applications and issues enrollment codes here; hub/app.py says so.
        state=State({"settings": settings, "db": db, "node_name": node_name, "clock": utcnow,
                     "blobs": blobs, "at_hub": False}),
        dependencies={"principal": Provide(require_principal, sync_to_thread=False)},
        before_request=before_request,
        middleware=[web_context_middleware],
        before_send=[SecurityHeaders(form_targets=form_targets, strict_transport=settings.cookie_secure)],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        compression_config=CompressionConfig(backend="gzip", minimum_size=1024, gzip_compress_level=3,
                                             exclude_opt_key=SKIP_COMPRESSION),
        openapi_config=OpenAPIConfig(title="Lianfu 警企联服", version=VERSION, path="/schema", render_plugins=api_docs_plugins()),
        on_startup=list(on_startup),
        on_shutdown=[*on_shutdown, db.dispose],
        debug=settings.debug,
        # Logging is the serving process's to set up (common/ops/logs.py, by `lianfu … serve`): an app built in a
        # worker must not put its own handlers and format on the root logger.
        logging_config=None,
    )
    # Request ids, access lines and request metrics for every request, a route's or not.
    observe(app)
    return app
