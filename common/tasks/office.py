"""The office's side of tasks, mounted by the hub alone: giving a task (a leader's directly), accepting its feedback,
sending it back, cancelling it — the API and the pages."""
from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

import anyio
from litestar import Request, Response, get, post
from litestar.params import FromPath, JSONBody
from msgspec import UNSET, UnsetType

from common import policy
from common.api.deps import Caller
from common.api.schemas import Body, BodyText, Name, Note, Short
from common.errors import InvalidField
from common.models import Node, Unit, User
from common.tasks import service as tasks
from common.tasks.api import TaskController
from common.tasks.reference import TASK_SOURCES
from common.visits.forms import error_map
from common.web.auth import require_principal
from common.web.htmx import redirect
from common.web.templating import render

FIELDS = ("title", "body", "owner_unit", "owner_node", "owner_user", "due", "source")


class TaskCreate(Body):
    title: Name
    body: BodyText = ""
    owner_unit: Short | None = None
    owner_node: Short | None = None
    owner_user: Short | None = None
    due: Short | None = None
    source: Short | UnsetType = UNSET
    status: Short | UnsetType = UNSET
    period: Short | None = None
    meeting_id: Short | None = None
    report_id: Short | None = None


class TaskDecision(Body):
    action: Short
    comment: Note = ""


class TaskOfficeController(TaskController):
    """The tasks' API at the hub: what every node answers, and the office's writes, on one controller."""

    @post("/", sync_to_thread=True, summary="Give a task (office; a leader's directly)")
    def create_task(self, request: Request, principal: Caller, data: JSONBody[TaskCreate]) -> dict[str, Any]:
        with request.app.state.db.transaction(actor=principal) as session:
            return tasks.task_out(tasks.create_task(session, principal, data.to_dict()), principal)

    @post("/{task_id:uuid}/decision", sync_to_thread=True, status_code=200,
          summary="Accept the feedback, send it back or cancel the task (office)")
    def decide_task(self, request: Request, principal: Caller, task_id: FromPath[UUID],
                    data: JSONBody[TaskDecision]) -> dict[str, Any]:
        with request.app.state.db.transaction(actor=principal) as session:
            return tasks.task_out(tasks.office_decide(session, principal, task_id, data.action, data.comment), principal)


def _form_context(state: Any, values: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    with state.db.reads() as session:
        units = session.execute(Unit.__table__.select().with_only_columns(Unit.id, Unit.name).order_by(Unit.id)).all()
        nodes = session.execute(Node.__table__.select().with_only_columns(Node.id, Node.name)
                                .where(Node.kind != "hub", Node.status == "active").order_by(Node.id)).all()
        users = session.execute(User.__table__.select().with_only_columns(User.id, User.username, User.display_name)
                                .where(User.deleted_at.is_(None), User.active.is_(True)).order_by(User.username)).all()
    return {"values": values, "errors": errors, "units": units, "nodes": nodes, "users": users, "sources": TASK_SOURCES}


@get("/tasks/new", include_in_schema=False, name="tasks:new")
async def new_task_page(request: Request) -> Response[str]:
    p = require_principal(request)
    policy.require_office(p)
    values = {name: "" for name in FIELDS} | {"source": "leader" if p.leader else "other"}
    context = await anyio.to_thread.run_sync(_form_context, request.app.state, values, {})
    return render(request, "tasks/new.html", {**context, "leader": p.leader})


@post("/tasks/new", include_in_schema=False)
async def create_task_page(request: Request) -> Response[Any]:
    p = require_principal(request)
    policy.require_office(p)
    form = await request.form()
    data = {name: str(form.get(name) or "") for name in FIELDS}
    # The form offers the three kinds of owner; only the chosen kind counts.
    kind = str(form.get("owner_kind") or "owner_unit")
    data = {k: v for k, v in data.items() if k not in tasks.OWNERS or k == kind}
    state = request.app.state

    def save() -> uuid.UUID:
        with state.db.transaction(actor=p) as session:
            return tasks.create_task(session, p, data).id

    try:
        task_id = await anyio.to_thread.run_sync(save)
    except InvalidField as exc:
        context = await anyio.to_thread.run_sync(_form_context, state, {**data, "owner_kind": kind}, error_map(exc))
        return render(request, "tasks/new.html", {**context, "leader": p.leader}, status=422)
    return redirect(request, f"/tasks/{task_id}?saved=1")


@post("/tasks/{task_id:uuid}/decision", include_in_schema=False, name="tasks:decide")
async def decide_task_page(request: Request, task_id: FromPath[UUID]) -> Response[Any]:
    p = require_principal(request)
    form = await request.form()
    state = request.app.state

    def save() -> None:
        with state.db.transaction(actor=p) as session:
            tasks.office_decide(session, p, task_id, str(form.get("action") or ""), str(form.get("comment") or ""))

    try:
        await anyio.to_thread.run_sync(save)
    except InvalidField:
        return redirect(request, f"/tasks/{task_id}?error=decision")
    return redirect(request, f"/tasks/{task_id}?decided=1")


TASK_OFFICE_HANDLERS = [new_task_page, create_task_page, decide_task_page]
