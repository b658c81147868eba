"""Pages of the cases' journeys (issue 5)."""
from __future__ import annotations

from litestar.types import ControllerRouterHandler

CASE_PAGE_HANDLERS: list[ControllerRouterHandler] = []
