"""Pages of tasks on every node: the list, one task with its owner's feedback form (files attached to it)."""
from __future__ import annotations

from typing import Any
from uuid import UUID

import anyio
from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, FromQuery
from litestar.types import ControllerRouterHandler

from common import policy
from common.api.deps import OffsetQ
from common.attachments import service as attachments
from common.attachments.pages import upload_limit
from common.errors import InvalidField
from common.models import Attachment, Node, Task, Unit, User
from common.tasks import service as tasks
from common.tasks.reference import TASK_SOURCES, TASK_STATUSES
from common.visits.forms import error_map
from common.web.auth import require_principal
from common.web.htmx import redirect
from common.web.templating import render

PAGE = 30
MAX_FILES = 5
CHOICES = {"sources": TASK_SOURCES, "statuses": TASK_STATUSES}


def owner_names(session: Any, rows: list[Task]) -> dict[Any, str]:
    """Each task's owner by name, read in three small queries."""
    units = {t.owner_unit for t in rows if t.owner_unit}
    nodes = {t.owner_node for t in rows if t.owner_node}
    users = {t.owner_user for t in rows if t.owner_user}
    names: dict[Any, str] = {}
    if units:
        names.update(session.execute(Unit.__table__.select().with_only_columns(Unit.id, Unit.name).where(Unit.id.in_(units))).all())
    if nodes:
        names.update(session.execute(Node.__table__.select().with_only_columns(Node.id, Node.name).where(Node.id.in_(nodes))).all())
    if users:
        names.update((uid, display or username) for uid, username, display in session.execute(
            User.__table__.select().with_only_columns(User.id, User.username, User.display_name).where(User.id.in_(users))).all())
    return {t.id: names.get(t.owner_unit or t.owner_node or t.owner_user, "") for t in rows}


@get("/tasks", include_in_schema=False, sync_to_thread=True)
def list_page(request: Request, status: FromQuery[str | None] = None, source: FromQuery[str | None] = None,
              mine: FromQuery[str | None] = None, q: FromQuery[str | None] = None, offset: OffsetQ = 0) -> Response[str]:
    p = require_principal(request)
    filters = {"status": status or "", "source": source or "", "mine": mine or "", "q": q or ""}
    with request.app.state.db.reads() as session:
        stmt = tasks.task_query(p, filters["status"], filters["source"], bool(mine), filters["q"])
        rows = list(session.scalars(stmt.limit(PAGE + 1).offset(max(0, offset))))
        owners = owner_names(session, rows)
    return render(request, "tasks/list.html", {
        "rows": rows[:PAGE], "owners": owners, "has_more": len(rows) > PAGE, "offset": max(0, offset),
        "page_size": PAGE, "filters": filters, "today": tasks.today(),
        **CHOICES}, partial="tasks/_rows.html")


def _detail_context(request: Request, task_id: UUID) -> dict[str, Any]:
    p = require_principal(request)
    with request.app.state.db.reads() as session:
        task = policy.get_visible(session, Task, task_id, p)
        files = session.scalars(policy.scoped(Attachment, p).where(Attachment.entity_type == "task",
                                                                   Attachment.entity_id == task.id)
                                .order_by(Attachment.created_at, Attachment.id)).all()
        owner = owner_names(session, [task])[task.id]
    return {"task": task, "owner": owner, "files": files, "today": tasks.today(),
            "can_answer": tasks.may_answer(p, task) and task.status in ("open", "submitted"),
            **CHOICES}


# A GET and a POST on one path must both be async (Litestar mixes them up otherwise): the reads run in a thread.
@get("/tasks/{task_id:uuid}", include_in_schema=False)
async def detail_page(request: Request, task_id: FromPath[UUID], saved: FromQuery[str | None] = None,
                      decided: FromQuery[str | None] = None, error: FromQuery[str | None] = None) -> Response[str]:
    context = await anyio.to_thread.run_sync(_detail_context, request, task_id)
    return render(request, "tasks/detail.html", {**context, "saved": bool(saved), "decided": bool(decided),
                                                 "decision_error": bool(error), "errors": {}, "feedback": ""})


@post("/tasks/{task_id:uuid}", include_in_schema=False, request_max_body_size=None,
      middleware=[upload_limit(MAX_FILES)])
async def feedback_page(request: Request, task_id: FromPath[UUID]) -> Response[Any]:
    p = require_principal(request)
    form = await request.form()
    feedback = str(form.get("feedback") or "")
    uploads = [item for item in form.getall("files", []) if isinstance(item, UploadFile) and item.filename][:MAX_FILES]
    files = [(item.filename, item.content_type, await item.read()) for item in uploads]
    state = request.app.state

    def save() -> None:
        with state.db.transaction(actor=p) as session:
            task = tasks.submit_feedback(session, p, task_id, feedback)
            for filename, content_type, content in files:
                attachments.add_attachment(session, p, state.blobs, "task", task.id, filename, content_type, content)

    try:
        await anyio.to_thread.run_sync(save)
    except InvalidField as exc:
        context = await anyio.to_thread.run_sync(_detail_context, request, task_id)
        return render(request, "tasks/detail.html", {**context, "errors": error_map(exc), "feedback": feedback,
                                                     "saved": False, "decided": False, "decision_error": False},
                      status=422)
    return redirect(request, f"/tasks/{task_id}?saved=1")


TASK_PAGE_HANDLERS: list[ControllerRouterHandler] = [list_page, detail_page, feedback_page]
