"""The demo's month of risk information (adopted by the office) and last month's digest, compiled and published."""
from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from common.models import Enterprise, InfoReport, User, new_id
from common.reports import service
from common.reports.periods import bounds, previous

RISKS = [("economic", "拖欠工程款引发讨薪风险"), ("labour", "外派务工人员劳资纠纷苗头"),
         ("public_security", "施工现场消防通道堵塞"), ("cyber", "冒用企业名义电信诈骗"), ("other", "项目部周边治安隐患")]
LEVELS = ["low", "low", "medium", "medium", "high"]


def seed_month(session: Session, now: datetime, rng: random.Random, count: int = 40) -> dict[str, Any]:
    """Last month's risk reports (once: none are added if that month has some) and its digest, published."""
    period = previous("monthly", now)
    start, end = bounds("monthly", period)
    have = session.scalar(select(func.count()).select_from(InfoReport).where(
        InfoReport.created_at >= start, InfoReport.created_at < end)) or 0
    made = 0
    if not have:
        enterprises = session.execute(select(Enterprise.id, Enterprise.node_id).where(Enterprise.deleted_at.is_(None))
                                      .order_by(Enterprise.id).limit(300)).all()
        span = (end - start).total_seconds()
        for _ in range(count if enterprises else 0):
            enterprise_id, node_id = rng.choice(enterprises)
            category, title = rng.choice(RISKS)
            at = start + timedelta(seconds=rng.uniform(0, span))
            session.add(InfoReport(id=new_id(), title=title, body=f"{title}，请关注。", category=category,
                                   risk_level=rng.choice(LEVELS), enterprise_id=enterprise_id, node_id=node_id,
                                   created_at=at, updated_at=at, status="adopted"))
            made += 1
        session.flush()
    report, _ = service.compile_report(session, "monthly", period, now)
    if report.status != "published":
        office = session.scalars(select(User).where(User.username == "office")).first()
        risk = report.figures.get("risk", {})
        hot = "、".join(r["label"] for r in risk.get("hot_industries", [])) or "—"
        report.analysis = f"本月共采纳风险信息{risk.get('total', 0)}条，主要集中在{hot}等行业。"
        report.guidance = "请各分中心加强对重点企业的走访，各警种部门对涉企纠纷提前介入。"
        report.status, report.published_at = "published", now
        report.published_by = office.id if office is not None else None
        session.flush()
    return {"risk_reports": made, "digest": period}
