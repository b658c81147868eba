"""Pages of the applications' journeys (issue 6)."""
from __future__ import annotations

from litestar.types import ControllerRouterHandler

APPLICATION_PAGE_HANDLERS: list[ControllerRouterHandler] = []
