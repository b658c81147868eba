"""/api/v1/enterprises and /api/v1/people."""
from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar.params import FromPath, FromQuery, JSONBody
from litestar import Controller, Request, delete, get, patch, post
from litestar.exceptions import TooManyRequestsException

from common.audit import trail as audit
from common.identity import throttle
from common import i18n, policy
from common.i18n import N_
from common.api.deps import Caller, LimitQ, OffsetQ
from common.api.paging import page
from common.api.schemas import EnterpriseCreate, EnterpriseUpdate, PersonCreate, PersonUpdate, RevealRequest
from common.models import Enterprise, Person
from common.roster import reveal
from common.roster import service as roster

def people_search_allowed(request: Request, principal: Any) -> None:
    """Count a search of people for the account; past the limit, refuse it (429) and record the burst once."""
    state = request.app.state
    now = state.clock()
    with state.db.transaction(actor=principal) as session:
        lock, started = throttle.count_search(session, str(principal.user_id or principal.username), now)
        if started:
            audit.record(session, state.settings.node_id, "security.search_burst", actor=principal.username,
                         actor_id=principal.user_id, entity_type="person",
                         detail={"limit": throttle.RULES[throttle.SEARCH].limit, "until": lock.until.isoformat()},
                         address=principal.address)
    if lock is not None:
        raise TooManyRequestsException(
            detail=i18n.gettext(N_("Too many searches of people in a short time. Try again later.")),
            headers={"Retry-After": str(lock.retry_after(now))})


def look_in_full(request: Request, principal: Any, data: Any, show: Any, row_id: Any) -> dict[str, Any]:
    """A look at one record's personal data in full through the API: the role and the reason checked, the look
    counted against the account's limit (429 past it), then `show(session, principal, row_id, reason)`."""
    reason = reveal.check_request(principal, data.to_dict())
    state = request.app.state
    try:
        reveal.count_look(state.db, principal, state.clock(), state.settings.node_id)
    except reveal.RevealLimited as exc:
        raise TooManyRequestsException(
            detail=i18n.gettext(N_("Too many looks at personal data in a short time. Try again later.")),
            headers={"Retry-After": str(exc.retry_after)}) from None
    with state.db.transaction(actor=principal) as session:
        return show(session, principal, row_id, reason)  # type: ignore[no-any-return]


class EnterpriseController(Controller):
    path = "/api/v1/enterprises"
    tags = ["roster"]

    @get("/", sync_to_thread=True, summary="List, search and filter the roster")
    def list_enterprises(self, request: Request, principal: Caller, limit: LimitQ = 50, offset: OffsetQ = 0,
                         q: FromQuery[str | None] = None, node: FromQuery[str | None] = None, industry: FromQuery[str | None] = None,
                         region_code: FromQuery[str | None] = None, is_key: FromQuery[bool | None] = None,
                         risk_level: FromQuery[str | None] = None) -> dict[str, Any]:
        with request.app.state.db.reads() as session:
            stmt = roster.enterprise_query(principal, request.app.state.db.dialect, q, node, industry, region_code, is_key, risk_level)
            return page(session, stmt, limit, offset, lambda e: roster.enterprise_out(e, principal))

    @post("/", sync_to_thread=True, summary="Add an enterprise to the roster")
    def create_enterprise(self, request: Request, principal: Caller, data: JSONBody[EnterpriseCreate]) -> dict[str, Any]:
        with request.app.state.db.transaction(actor=principal) as session:
            return roster.enterprise_out(roster.create_enterprise(session, principal, data.to_dict()), principal)

    @get("/{enterprise_id:uuid}", sync_to_thread=True)
    def get_enterprise(self, request: Request, principal: Caller, enterprise_id: FromPath[UUID]) -> dict[str, Any]:
        with request.app.state.db.reads() as session:
            return roster.enterprise_out(policy.get_visible(session, Enterprise, enterprise_id, principal), principal)

    @patch("/{enterprise_id:uuid}", sync_to_thread=True)
    def update_enterprise(self, request: Request, principal: Caller, enterprise_id: FromPath[UUID],
                          data: JSONBody[EnterpriseUpdate]) -> dict[str, Any]:
        with request.app.state.db.transaction(actor=principal) as session:
            return roster.enterprise_out(roster.update_enterprise(session, principal, enterprise_id, data.to_dict()), principal)

    @post("/{enterprise_id:uuid}/reveal", sync_to_thread=True, status_code=200,
          summary="The contact's phone in full, asked for with a reason and recorded (office, liaison)")
    def reveal_contact(self, request: Request, principal: Caller, enterprise_id: FromPath[UUID],
                       data: JSONBody[RevealRequest]) -> dict[str, Any]:
        return look_in_full(request, principal, data, reveal.reveal_contact, enterprise_id)

    @delete("/{enterprise_id:uuid}", sync_to_thread=True, status_code=204)
    def delete_enterprise(self, request: Request, principal: Caller, enterprise_id: FromPath[UUID]) -> None:
        with request.app.state.db.transaction(actor=principal) as session:
            roster.delete_enterprise(session, principal, enterprise_id)


class PersonController(Controller):
    path = "/api/v1/people"
    tags = ["roster"]

    @get("/", sync_to_thread=True, summary="List and search people of the enterprises in scope")
    def list_people(self, request: Request, principal: Caller, limit: LimitQ = 50, offset: OffsetQ = 0,
                    q: FromQuery[str | None] = None, enterprise_id: FromQuery[UUID | None] = None) -> dict[str, Any]:
        term = (q or "").strip()
        if term:
            people_search_allowed(request, principal)
        with request.app.state.db.reads() as session:
            stmt = roster.people_query(principal, request.app.state.db.dialect, term, enterprise_id)
            return page(session, stmt, limit, offset, lambda x: roster.person_out(x, principal))

    @post("/", sync_to_thread=True)
    def create_person(self, request: Request, principal: Caller, data: JSONBody[PersonCreate]) -> dict[str, Any]:
        with request.app.state.db.transaction(actor=principal) as session:
            return roster.person_out(roster.create_person(session, principal, data.to_dict()), principal)

    @get("/{person_id:uuid}", sync_to_thread=True)
    def get_person(self, request: Request, principal: Caller, person_id: FromPath[UUID]) -> dict[str, Any]:
        with request.app.state.db.reads() as session:
            return roster.person_out(policy.get_visible(session, Person, person_id, principal), principal)

    @patch("/{person_id:uuid}", sync_to_thread=True)
    def update_person(self, request: Request, principal: Caller, person_id: FromPath[UUID], data: JSONBody[PersonUpdate]) -> dict[str, Any]:
        with request.app.state.db.transaction(actor=principal) as session:
            return roster.person_out(roster.update_person(session, principal, person_id, data.to_dict()), principal)

    @post("/{person_id:uuid}/reveal", sync_to_thread=True, status_code=200,
          summary="A person's ID number and phone in full, asked for with a reason and recorded (office, liaison)")
    def reveal_person(self, request: Request, principal: Caller, person_id: FromPath[UUID],
                      data: JSONBody[RevealRequest]) -> dict[str, Any]:
        return look_in_full(request, principal, data, reveal.reveal_person, person_id)

    @delete("/{person_id:uuid}", sync_to_thread=True, status_code=204)
    def delete_person(self, request: Request, principal: Caller, person_id: FromPath[UUID]) -> None:
        with request.app.state.db.transaction(actor=principal) as session:
            roster.delete_person(session, principal, person_id)
