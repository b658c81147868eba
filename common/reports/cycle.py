"""The routine cycle's jobs (Art. 18(1)), run by the hub's scheduler hourly. Each acts only once its period has
ended and its report is not there yet, so running it again (or late) changes nothing:

* monthly-cycle: each active sub-center and police unit gets its collection task for the month (due the 25th), and
  the previous month's digest is compiled as a draft; the office is told.
* quarterly-cycle: the previous quarter's scorecard as a draft, and each unit's task for its written summary.
* semiannual-cycle / annual-cycle: the half year's / year's figures as drafts, and its joint meeting (or annual
  summary meeting) planned with the agenda built from that period, for the office to date, hold and minute.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from common.db import Database
from common.models import Node, Unit
from common.notify.service import Audience, Notice, notify
from common.reports import service
from common.reports.periods import LOCAL, bounds, period_of, previous
from common.settings import Settings

COLLECTION_DUE_DAY = 25
SUMMARY_DUE_DAYS = 15
KIND_WORDS = {"monthly": "月度风险研判", "quarterly": "季度工作总结", "semiannual": "半年度数据", "annual": "年度工作总结"}


def _compile(db: Database, kind: str, now: datetime) -> tuple[Any, bool, Any]:
    period = previous(kind, now)
    with db.transaction() as session:
        report, made = service.compile_report(session, kind, period, now)
        summaries = 0
        if kind == "quarterly":
            _, end = bounds(kind, period)
            summaries = service.summary_tasks(session, report, end.date() + timedelta(days=SUMMARY_DUE_DAYS - 1))
        if made:
            title = f"{period} {KIND_WORDS[kind]}草稿已生成"
            notify(session, f"report:{report.id}:compiled", Notice(
                kind="report.compiled", title=title, body="请审阅数据，填写分析与指导意见后发布。",
                link=f"/reports/{report.id}", entity_type="report", entity_id=report.id), Audience(office=True))
        return period, made, summaries


def collection_tasks(db: Database, now: datetime) -> int:
    month = period_of("monthly", now)
    local = now.astimezone(LOCAL)
    due = date(local.year, local.month, COLLECTION_DUE_DAY)
    made = 0
    with db.transaction() as session:
        for node_id, name in session.execute(select(Node.id, Node.name).where(
                Node.kind == "subcenter", Node.status == "active").order_by(Node.id)):
            made += service.ensure_task(session, f"collection:{month}:node:{node_id}", title=f"{month} 风险信息收集",
                                        body=f"请{name}于{due:%m月%d日}前报送本月风险信息。", owner_node=node_id,
                                        due=due, source="collection", period=month, node_id=node_id)
        for unit_id, name in session.execute(select(Unit.id, Unit.name).where(Unit.active.is_(True)).order_by(Unit.id)):
            made += service.ensure_task(session, f"collection:{month}:unit:{unit_id}", title=f"{month} 风险信息收集",
                                        body=f"请{name}于{due:%m月%d日}前报送本月风险信息。", owner_unit=unit_id,
                                        due=due, source="collection", period=month, node_id="hub")
    return made


def monthly_cycle(db: Database, settings: Settings, now: datetime) -> dict[str, Any]:
    tasks = collection_tasks(db, now)
    period, made, _ = _compile(db, "monthly", now)
    return {"collection_tasks": tasks, "digest": period if made else None}


def quarterly_cycle(db: Database, settings: Settings, now: datetime) -> dict[str, Any]:
    period, made, summaries = _compile(db, "quarterly", now)
    return {"scorecard": period if made else None, "summary_tasks": summaries}


def _plan_meeting(db: Database, kind: str, now: datetime) -> str | None:
    from common.meetings.service import KIND_TITLES, plan_meeting

    period = previous(kind, now)
    with db.transaction() as session:
        meeting, made = plan_meeting(session, kind, period)
        if made:
            notify(session, f"meeting:{meeting.id}:planned", Notice(
                kind="meeting.planned", title=f"{period} {KIND_TITLES[kind]}已列入计划",
                body="议程已按本期数据生成，请确定会议时间与参会人员。", link=f"/meetings/{meeting.id}",
                entity_type="meeting", entity_id=meeting.id), Audience(office=True))
        return str(meeting.id) if made else None


def semiannual_cycle(db: Database, settings: Settings, now: datetime) -> dict[str, Any]:
    period, made, _ = _compile(db, "semiannual", now)
    return {"report": period if made else None, "meeting": _plan_meeting(db, "semiannual", now)}


def annual_cycle(db: Database, settings: Settings, now: datetime) -> dict[str, Any]:
    period, made, _ = _compile(db, "annual", now)
    return {"report": period if made else None, "meeting": _plan_meeting(db, "annual", now)}
