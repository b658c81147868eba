"""The JSON API of the office's own work on the federation, mounted by the hub alone: deciding applications, and
renaming, suspending or retiring nodes, adding and changing police units. One controller per path with what every node answers (Litestar wraps a sync
handler again each time another handler joins its path)."""
from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Request, patch, post
from litestar.params import FromPath, JSONBody

from common.api.deps import Caller
from common.api.schemas import Decision, NodeUpdate, UnitCreate, UnitUpdate
from common.federation import service as federation
from common.federation import units
from common.federation.api import ApplicationController, NodeController, UnitController
from common.identity import setup_links
from common.identity.office_api import base_url_of


class ApplicationOfficeController(ApplicationController):
    @post("/{application_id:uuid}/decision", sync_to_thread=True, status_code=200, summary="The office decides")
    def decide(self, request: Request, principal: Caller, application_id: FromPath[UUID], data: JSONBody[Decision]) -> dict[str, Any]:
        with request.app.state.db.transaction(actor=principal) as session:
            application, code, head = federation.decide_application(session, principal, application_id,
                                                                    data.decision, data.comment)
            out = federation.application_out(application, principal)
            if code is not None:
                out.update(node=application.created_node, enrollment_code=code)
            if head is not None:
                out["head_account"] = {"username": head.username,
                                       "setup_url": setup_links.setup_url(base_url_of(request), head.token)}
            return out


class NodeOfficeController(NodeController):
    @patch("/{node_id:str}", sync_to_thread=True, summary="Rename, suspend or retire a node (office)")
    def update_node(self, request: Request, principal: Caller, node_id: FromPath[str], data: JSONBody[NodeUpdate]) -> dict[str, Any]:
        with request.app.state.db.transaction(actor=principal) as session:
            return federation.node_out(federation.update_node(session, principal, node_id, data.to_dict()), principal)


class UnitOfficeController(UnitController):
    @post("/", sync_to_thread=True, status_code=201, summary="Add a police station (office)")
    def create_unit(self, request: Request, principal: Caller, data: JSONBody[UnitCreate]) -> dict[str, Any]:
        with request.app.state.db.transaction(actor=principal) as session:
            return units.unit_out(units.create_station(session, principal, data.to_dict()), office=True)

    @patch("/{unit_id:str}", sync_to_thread=True, summary="Rename, reorder, deactivate or reactivate a unit (office)")
    def update_unit(self, request: Request, principal: Caller, unit_id: FromPath[str], data: JSONBody[UnitUpdate]) -> dict[str, Any]:
        with request.app.state.db.transaction(actor=principal) as session:
            return units.unit_out(units.update_unit(session, principal, unit_id, data.to_dict()), office=True)
