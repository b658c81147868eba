"""The hub's daily job `task_reminders`: a notice the day before a task is due and one when it is overdue, once each
(the event key carries the task and the step)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from common.db import Database
from common.notify.service import Notice, notify
from common.settings import Settings
from common.tasks import service as tasks


def run(db: Database, settings: Settings, now: datetime) -> dict[str, Any]:
    told = {"due_soon": 0, "overdue": 0}
    with db.transaction() as session:
        for task, step in tasks.due_for_reminders(session, now):
            due = task.due.isoformat() if task.due else ""
            title = (f"任务明天到期：{task.title}（{due}）" if step == "due_soon" else f"任务已逾期：{task.title}（{due}）")
            told[step] += notify(session, f"task:{task.id}:{step}", Notice(
                kind=f"task.{step}", title=title[:300], body=task.body[:2000], link=f"/tasks/{task.id}",
                entity_type="task", entity_id=task.id, urgent=step == "overdue", group_text=title),
                tasks.audience_of(task))
    return told
