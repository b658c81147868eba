"""What every API handler takes: the caller's principal and the bounds of a page."""
from __future__ import annotations

from typing import Annotated

from litestar.di import NamedDependency
from litestar.params import QueryParameter

from common.policy import Principal

# Resolved once per request by the before-request hook, from a page session or a bearer token.
Caller = NamedDependency[Principal]

LimitQ = Annotated[int, QueryParameter(ge=1, le=200, description="Rows per page (at most 200)")]
OffsetQ = Annotated[int, QueryParameter(ge=0, description="Rows to skip")]
