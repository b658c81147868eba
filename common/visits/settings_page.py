"""The office's page for the visit checklist and cadences: rows of the form in, the stored settings out."""
from __future__ import annotations

import re
from typing import Any

from sqlalchemy.orm import Session

from common.db import Database
from common.errors import InvalidField
from common.policy import Principal
from common.reference import RISK_LEVELS
from common.center import settings
from common.service import Problems
from common.visits.reference import CADENCE_KEY, CHECKLIST_KEY

BLANK_ROWS = 3
SLUG = re.compile(r"[^a-z0-9]+")


def submitted(form: Any) -> tuple[list[dict[str, str]], dict[str, str]]:
    """Checklist rows (`item_key`, `item_label`, `item_label_en` repeated) and one cadence per risk level.

    A row whose name was cleared is an item removed; a new row without a key gets one from its English name.
    """
    keys, labels, labels_en = form.getall("item_key", []), form.getall("item_label", []), form.getall("item_label_en", [])
    items: list[dict[str, str]] = []
    for index, label in enumerate(labels):
        label = str(label).strip()
        if not label:
            continue
        label_en = str(labels_en[index]).strip() if index < len(labels_en) else ""
        key = str(keys[index]).strip() if index < len(keys) else ""
        items.append({"key": key or _new_key(label_en, index, items), "label": label, "label_en": label_en})
    cadence = {level: str(form.get(f"cadence_{level}") or "").strip() for level in RISK_LEVELS}
    return items, cadence


def _new_key(label_en: str, index: int, items: list[dict[str, str]]) -> str:
    """A stable key for a new item, readable when it has an English name, never one already taken."""
    base = SLUG.sub("_", label_en.lower()).strip("_")[:48]
    key = base if base and base[0].isalpha() else f"item_{index + 1}"
    taken = {item["key"] for item in items}
    suffix = 2
    candidate = key
    while candidate in taken:
        candidate, suffix = f"{key}_{suffix}", suffix + 1
    return candidate


def save(db: Database, p: Principal, checklist: list[dict[str, str]], cadence: dict[str, Any]) -> None:
    """Store what changed, both lists in one transaction; every problem of the form is reported at once."""
    problems = Problems()
    with db.transaction(actor=p) as session:
        if checklist != settings.get(session, CHECKLIST_KEY):
            problems.check(settings.put, session, p, CHECKLIST_KEY, checklist)
        current = settings.get(session, CADENCE_KEY)
        if {k: str(v) for k, v in cadence.items()} != {k: str(v) for k, v in current.items()}:
            problems.check(settings.put, session, p, CADENCE_KEY, cadence)
        if problems.errors:
            raise InvalidField.collect(problems.errors)


def page_context(session: Session, editable: bool, checklist: list[dict[str, str]] | None = None,
                 cadence: dict[str, Any] | None = None) -> dict[str, Any]:
    """The stored lists, or what was just sent back with its errors; blank rows to add items without JavaScript."""
    rows = checklist if checklist is not None else settings.get(session, CHECKLIST_KEY)
    blank = [{"key": "", "label": "", "label_en": ""} for _ in range(BLANK_ROWS)] if editable else []
    return {"items": [*rows, *blank], "cadence": cadence if cadence is not None else settings.get(session, CADENCE_KEY),
            "risk_levels": RISK_LEVELS, "editable": editable, "errors": {}}
