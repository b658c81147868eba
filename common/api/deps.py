"""What every API handler takes: the caller's principal and the bounds of a page."""
from __future__ import annotations

from typing import Annotated

from litestar.di import NamedDependency
from litestar.params import QueryParameter

from common.api.paging import MAX_LIMIT, MAX_OFFSET
from common.policy import Principal

# Resolved once per request by the before-request hook, from a page session or a bearer token.
Caller = NamedDependency[Principal]

LimitQ = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description=f"Rows per page (at most {MAX_LIMIT})")]
OffsetQ = Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET, description="Rows to skip")]
