"""The JSON API of the key-person register, mounted by the hub alone: police only (others get 404 on every path)."""
from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody
from msgspec import UNSET, UnsetType

from common.api.deps import Caller, LimitQ, OffsetQ
from common.api.paging import page
from common.api.schemas import Body, LongText, PersonName, Short
from common.keypersons import service as keypersons
from common.roster.api import look_in_full


class KeyPersonCreate(Body):
    name: PersonName
    id_number: Short = ""
    phone: Short = ""
    enterprise_id: Short | None = None
    control_level: Short = "general"
    responsible_unit: Short | None = None
    notes: LongText = ""


class KeyPersonUpdate(Body):
    name: PersonName | UnsetType = UNSET
    id_number: Short | UnsetType = UNSET
    phone: Short | UnsetType = UNSET
    enterprise_id: Short | None | UnsetType = UNSET
    control_level: Short | UnsetType = UNSET
    responsible_unit: Short | None | UnsetType = UNSET
    notes: LongText | UnsetType = UNSET


class FollowUpCreate(Body):
    text: LongText
    day: Short | None = None


class RevealRequest(Body):
    reason: Short


class KeyPersonController(Controller):
    path = "/api/v1/key-persons"
    tags = ["key-persons"]

    @get("/", sync_to_thread=True, summary="List and search the key-person register (police only)")
    def list_key_persons(self, request: Request, principal: Caller, limit: LimitQ = 50, offset: OffsetQ = 0,
                         q: FromQuery[str | None] = None, control_level: FromQuery[str | None] = None,
                         unit: FromQuery[str | None] = None) -> dict[str, Any]:
        with request.app.state.db.reads() as session:
            stmt = keypersons.search(principal, q or "", control_level or "", unit or "")
            return page(session, stmt, limit, offset, keypersons.out)

    @post("/", sync_to_thread=True)
    def create_key_person(self, request: Request, principal: Caller, data: JSONBody[KeyPersonCreate]) -> dict[str, Any]:
        with request.app.state.db.transaction(actor=principal) as session:
            return keypersons.out(keypersons.create(session, principal, data.to_dict()))

    @get("/{key_person_id:uuid}", sync_to_thread=True, summary="One record (its read is recorded)")
    def get_key_person(self, request: Request, principal: Caller, key_person_id: FromPath[UUID]) -> dict[str, Any]:
        with request.app.state.db.transaction(actor=principal) as session:
            row = keypersons.view(session, principal, key_person_id)
            return keypersons.out(row, keypersons.follow_ups(session, row.id))

    @patch("/{key_person_id:uuid}", sync_to_thread=True)
    def update_key_person(self, request: Request, principal: Caller, key_person_id: FromPath[UUID],
                          data: JSONBody[KeyPersonUpdate]) -> dict[str, Any]:
        with request.app.state.db.transaction(actor=principal) as session:
            return keypersons.out(keypersons.update(session, principal, key_person_id, data.to_dict()))

    @delete("/{key_person_id:uuid}", sync_to_thread=True, status_code=204)
    def delete_key_person(self, request: Request, principal: Caller, key_person_id: FromPath[UUID]) -> None:
        with request.app.state.db.transaction(actor=principal) as session:
            keypersons.delete(session, principal, key_person_id)

    @post("/{key_person_id:uuid}/follow-ups", sync_to_thread=True, status_code=201)
    def add_follow_up(self, request: Request, principal: Caller, key_person_id: FromPath[UUID],
                      data: JSONBody[FollowUpCreate]) -> dict[str, Any]:
        with request.app.state.db.transaction(actor=principal) as session:
            follow = keypersons.add_follow_up(session, principal, key_person_id, data.to_dict())
            return {"id": str(follow.id), "day": follow.day.isoformat(), "by": follow.by_name, "text": follow.text}

    @post("/{key_person_id:uuid}/reveal", sync_to_thread=True, status_code=200,
          summary="The ID number and phone in full, with a reason (recorded)")
    def reveal(self, request: Request, principal: Caller, key_person_id: FromPath[UUID],
               data: JSONBody[RevealRequest]) -> dict[str, Any]:
        keypersons.require_police(principal)
        with request.app.state.db.reads() as session:
            keypersons.get_visible(session, principal, key_person_id)
        return look_in_full(request, principal, data, keypersons.reveal, key_person_id)
