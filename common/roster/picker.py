"""The enterprise picker every form shares: searched as one types, in the caller's scope, each enterprise told apart
from its namesakes by its credit code and region."""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from common import policy
from common.models import Enterprise
from common.policy import Principal
from common.regions import region_name
from common.roster import service as roster

PICKER_SIZE = 20
# The form fields a picker fills, and the name of its search box (kept out of the form's own data).
FIELDS = {"enterprise_id": "enterprise_q", "host_enterprise_id": "host_enterprise_q"}


def enterprise_option(e: Enterprise) -> dict[str, Any]:
    return {"id": str(e.id), "name": e.name, "credit_code": e.credit_code,
            "region": region_name(e.region_code) or e.region_code}


def _visible(session: Session, p: Principal, chosen: Any) -> Enterprise | None:
    try:
        wanted = chosen if isinstance(chosen, uuid.UUID) else uuid.UUID(str(chosen)) if chosen else None
    except ValueError:
        return None
    if wanted is None:
        return None
    return session.scalars(policy.scoped(Enterprise, p).where(Enterprise.id == wanted)).first()


def enterprise_picker(session: Session, p: Principal, dialect: str, field: str = "enterprise_id", q: str | None = "",
                      chosen: Any = None, *, required: bool = False, keep: dict[str, str] | None = None) -> dict[str, Any]:
    """What the picker shows: up to PICKER_SIZE enterprises matching `q` (name, pinyin of any part of it, credit
    code) with the one `chosen` always among them; an enterprise's own account (one enterprise) gets it fixed.

    `keep`: query parameters the search without JavaScript carries back to the page (it reloads the page).
    """
    if field not in FIELDS:
        raise ValueError(f"no enterprise picker fills {field!r}")
    term = (q or "").strip()[:100]
    picked = _visible(session, p, chosen)
    rows: list[Enterprise] = []
    fixed = None
    if p.role == "enterprise" and not term:
        # A workstation's account holds its own one or few: listed before anything is typed, one of them fixed.
        rows = list(session.scalars(policy.scoped(Enterprise, p).order_by(Enterprise.name).limit(PICKER_SIZE + 1)))
        if len(rows) == 1:
            fixed = rows[0]
            picked = picked or fixed
    elif term:
        rows = list(session.scalars(roster.enterprise_query(p, dialect, term).limit(PICKER_SIZE + 1)))
    more = len(rows) > PICKER_SIZE
    rows = rows[:PICKER_SIZE]
    if picked is not None and all(e.id != picked.id for e in rows):
        rows.insert(0, picked)
    return {
        "field": field, "q_name": FIELDS[field], "q": term, "required": required, "keep": keep or {},
        "chosen": str(picked.id) if picked is not None else "", "results": [enterprise_option(e) for e in rows],
        "more": more, "size": PICKER_SIZE, "fixed": enterprise_option(fixed) if fixed is not None else None,
    }
