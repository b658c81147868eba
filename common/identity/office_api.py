"""/api/v1/users: the office lists, creates and changes accounts; mounted by the hub alone."""
from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from common import policy
from common.api.deps import Caller, LimitQ, OffsetQ
from common.api.paging import page
from common.api.schemas import UserCreate, UserUpdate
from common.identity import accounts, setup_links


def base_url_of(request: Request) -> str:
    """The hub's address as people reach it: its configured base URL, else the one this request came to."""
    configured = request.app.state.settings.base_url
    return configured.rstrip("/") if configured else f"{request.url.scheme}://{request.url.netloc}"


class UserController(Controller):
    path = "/api/v1/users"
    tags = ["accounts"]

    @get("/", sync_to_thread=True, summary="Accounts, filtered by role, node, unit, active and a search (office)")
    def list_users(self, request: Request, principal: Caller, limit: LimitQ = 50, offset: OffsetQ = 0,
                   role: FromQuery[str | None] = None, node: FromQuery[str | None] = None,
                   unit: FromQuery[str | None] = None, active: FromQuery[bool | None] = None,
                   q: FromQuery[str | None] = None) -> dict[str, Any]:
        policy.require_office(principal)
        with request.app.state.db.reads() as session:
            return page(session, accounts.user_query(role, node, unit, active, q), limit, offset, accounts.user_out)

    @post("/", sync_to_thread=True, summary="A new account, answered with its one-time setup link (office)")
    def create_user(self, request: Request, principal: Caller, data: JSONBody[UserCreate]) -> dict[str, Any]:
        policy.require_office(principal)
        with request.app.state.db.transaction(actor=principal) as session:
            user = accounts.create_user(session, principal, data.to_dict())
            token = setup_links.issue(session, principal, user, request.app.state.clock())
            return {**accounts.user_out(user), "setup_url": setup_links.setup_url(base_url_of(request), token)}

    @get("/{user_id:uuid}", sync_to_thread=True, summary="One account (office)")
    def get_user(self, request: Request, principal: Caller, user_id: FromPath[UUID]) -> dict[str, Any]:
        policy.require_office(principal)
        with request.app.state.db.reads() as session:
            return accounts.user_out(accounts.get_user(session, user_id))

    @patch("/{user_id:uuid}", sync_to_thread=True,
           summary="Change an account; `active: false` ends its sessions and tokens, `reset: true` answers a new "
                   "one-time setup link (office)")
    def update_user(self, request: Request, principal: Caller, user_id: FromPath[UUID],
                    data: JSONBody[UserUpdate]) -> dict[str, Any]:
        policy.require_office(principal)
        body = data.to_dict()
        reset = body.pop("reset", False)
        with request.app.state.db.transaction(actor=principal) as session:
            user = accounts.update_user(session, principal, user_id, body)
            out = accounts.user_out(user)
            if reset:
                token = setup_links.issue(session, principal, user, request.app.state.clock(), reset=True)
                out["setup_url"] = setup_links.setup_url(base_url_of(request), token)
            return out


USER_API_HANDLERS = [UserController]
