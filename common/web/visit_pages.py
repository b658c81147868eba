"""Pages of the visits' journeys (issue 5)."""
from __future__ import annotations

from litestar.types import ControllerRouterHandler

VISIT_PAGE_HANDLERS: list[ControllerRouterHandler] = []
