"""/admin: the office's one page for keeping the platform — people and units, nodes, the rules cases follow, and
how the hub is running — so that the menu holds the daily work and this page everything kept now and then."""
from __future__ import annotations

from dataclasses import dataclass

import anyio
from litestar import Request, Response, get
from sqlalchemy import func, select

from common.i18n import N_
from common.models import Node, User
from common.notify.models import Delivery
from common.web.auth import require_office_principal
from common.web.templating import render


@dataclass(frozen=True)
class Entry:
    path: str
    title: str
    about: str
    count: str = ""  # a figure of `_counts` shown beside it


SECTIONS: list[tuple[str, list[Entry]]] = [
    (N_("People and organisation"), [
        Entry("/admin/users", N_("User management"),
              N_("Accounts of the office, liaison officers, sub-center and workstation heads: add, disable, reset."),
              "users"),
        Entry("/admin/units", N_("Unit management"),
              N_("Police units and stations, their order and their liaison officers.")),
        Entry("/admin/nodes", N_("Node management"),
              N_("Sub-centers and workstations: heads, status, last sync; suspend, retire, reinstate."), "nodes"),
        Entry("/oauth/clients", N_("Connected applications"),
              N_("Other systems that sign their users in through this platform.")),
    ]),
    (N_("How cases are handled"), [
        Entry("/cases/routing", N_("Routing table"), N_("Which unit leads and which assist, by category.")),
        Entry("/admin/deadlines", N_("Deadlines"),
              N_("Sign-for and report-back deadlines by urgency and category, holidays, escalation.")),
    ]),
    (N_("How the platform runs"), [
        Entry("/sync", N_("Sync"), N_("Every spoke's last sync, its queue and its conflicts.")),
        Entry("/admin/jobs", N_("Scheduled jobs"),
              N_("The monthly, quarterly and half-year cycle and the hub's other jobs: last and next run, run now.")),
        Entry("/admin/deliveries", N_("Deliveries"), N_("Mail and WeCom messages sent, waiting and failed."), "failed"),
        Entry("/audit", N_("Audit trail"), N_("Every change and every security event, by person, node and date.")),
    ]),
]

#: The paths this page gathers: the menu's 管理 is current on each of them.
PATHS = tuple(entry.path for _, entries in SECTIONS for entry in entries)


def _counts(db: object) -> dict[str, int]:
    with db.reads() as session:  # type: ignore[attr-defined]
        return {
            "users": session.scalar(select(func.count()).select_from(User).where(User.active.is_(True),
                                                                               User.deleted_at.is_(None))) or 0,
            "nodes": session.scalar(select(func.count()).select_from(Node).where(Node.kind != "hub",
                                                                               Node.status == "active")) or 0,
            "failed": session.scalar(select(func.count()).select_from(Delivery)
                                     .where(Delivery.status.in_(("failed", "dead")))) or 0,
        }


@get("/admin", include_in_schema=False, name="admin:index")
async def admin_index(request: Request) -> Response[str]:
    require_office_principal(request)
    counts = await anyio.to_thread.run_sync(_counts, request.app.state.db)
    return render(request, "admin/index.html", {"sections": SECTIONS, "counts": counts})


ADMIN_INDEX_HANDLERS = [admin_index]
