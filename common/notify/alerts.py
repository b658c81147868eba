"""The office told of a node that has gone quiet: an active sub-center or workstation whose last completed sync round
is older than LIANFU_SYNC_ALERT_HOURS, at most once a day per node."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from common.db import Database
from common.models import Node, SyncPeer
from common.notify.models import Notification
from common.notify.service import Audience, Notice, notify
from common.settings import Settings

BEIJING = ZoneInfo("Asia/Shanghai")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)  # SQLite keeps UTC without the offset


def quiet_nodes(session: Any, now: datetime, hours: float) -> list[tuple[Node, datetime]]:
    """Active non-hub nodes whose last successful round is older than `hours`, with that time. A node that never
    completed a round (approved, not enrolled yet) is not reported: it has no spoke to be silent."""
    since = now - timedelta(hours=hours)
    rows = session.execute(select(Node, SyncPeer.last_success_at).join(SyncPeer, SyncPeer.node_id == Node.id)
                           .where(Node.kind != "hub", Node.status == "active", SyncPeer.last_success_at.is_not(None))
                           .order_by(Node.path)).all()
    return [(node, _aware(last)) for node, last in rows if _aware(last) < since]


def run(db: Database, settings: Settings, now: datetime) -> dict[str, Any]:
    """Tell the office (inbox, mail, the hub's robot) of each quiet node, once per node per Beijing day."""
    now = _aware(now)
    day = now.astimezone(BEIJING).date().isoformat()
    told = 0
    with db.transaction() as session:
        quiet = quiet_nodes(session, now, settings.notify.sync_alert_hours)
        for node, last in quiet:
            hours = int((now - last).total_seconds() // 3600)
            when = last.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")
            title = f"{node.name}已 {hours} 小时未同步"
            body = (f"{node.name}（{node.id}）最后一次成功同步在北京时间 {when}，已超过 "
                    f"{settings.notify.sync_alert_hours:g} 小时。请联系该节点检查网络和服务。")
            notice = Notice(kind="sync.silent", title=title, body=body, link="/admin/nodes", entity_type="node",
                            urgent=False, group_text=body)
            key = f"sync-alert:{node.id}:{day}"
            # Told again the same day, nobody hears it twice (the event's key): only the first run of a day counts.
            told += session.scalar(select(Notification.id).where(Notification.event_key == key).limit(1)) is None
            notify(session, key, notice, Audience(office=True))
    return {"quiet": len(quiet), "told": told}
