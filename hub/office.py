"""The office's own work, mounted by the hub alone: a spoke never imports it, and answers these paths with where they
are done (spoke/hub_only.py)."""
from __future__ import annotations

from litestar.types import ControllerRouterHandler

from common.bulletins.api import BulletinController
from common.bulletins.office import BULLETIN_OFFICE_HANDLERS
from common.bulletins.office_api import BulletinOfficeController
from common.cases.office import CASE_OFFICE_HANDLERS
from common.federation.office import APPLICATION_OFFICE_HANDLERS
from common.visits.office import VISIT_OFFICE_HANDLERS
from common.web.app import API_HANDLERS

OFFICE_HANDLERS: list[ControllerRouterHandler] = [
    *CASE_OFFICE_HANDLERS, *VISIT_OFFICE_HANDLERS, *APPLICATION_OFFICE_HANDLERS, *BULLETIN_OFFICE_HANDLERS,
]

# The API of every node, with the office's writes where a controller of its own would share a path.
HUB_API_HANDLERS: list[ControllerRouterHandler] = [
    BulletinOfficeController if handler is BulletinController else handler for handler in API_HANDLERS]
