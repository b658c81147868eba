"""The JSON API of tasks, on every node: the list, one task, the owner's feedback. Giving tasks and deciding on their
feedback is the office's, mounted by the hub alone (office.py)."""
from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from common import policy
from common.api.deps import Caller, LimitQ, OffsetQ
from common.api.paging import page
from common.api.schemas import Body, LongText
from common.models import Task
from common.tasks import service as tasks


class TaskFeedback(Body):
    feedback: LongText


class TaskController(Controller):
    path = "/api/v1/tasks"
    tags = ["tasks"]

    @get("/", sync_to_thread=True, summary="List tasks in scope")
    def list_tasks(self, request: Request, principal: Caller, limit: LimitQ = 50, offset: OffsetQ = 0,
                   status: FromQuery[str | None] = None, source: FromQuery[str | None] = None,
                   mine: FromQuery[bool] = False, q: FromQuery[str | None] = None) -> dict[str, Any]:
        with request.app.state.db.reads() as session:
            stmt = tasks.task_query(principal, status or "", source or "", mine, q or "")
            return page(session, stmt, limit, offset, lambda t: tasks.task_out(t, principal))

    @get("/{task_id:uuid}", sync_to_thread=True)
    def get_task(self, request: Request, principal: Caller, task_id: FromPath[UUID]) -> dict[str, Any]:
        with request.app.state.db.reads() as session:
            return tasks.task_out(policy.get_visible(session, Task, task_id, principal), principal)

    @post("/{task_id:uuid}/feedback", sync_to_thread=True, status_code=200, summary="The owner's feedback")
    def feedback(self, request: Request, principal: Caller, task_id: FromPath[UUID],
                 data: JSONBody[TaskFeedback]) -> dict[str, Any]:
        with request.app.state.db.transaction(actor=principal) as session:
            return tasks.task_out(tasks.submit_feedback(session, principal, task_id, data.feedback), principal)
