"""Pages of the bulletins' journeys (issue 6)."""
from __future__ import annotations

from litestar.types import ControllerRouterHandler

BULLETIN_PAGE_HANDLERS: list[ControllerRouterHandler] = []
