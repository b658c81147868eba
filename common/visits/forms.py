"""The visit form as a page sends it, turned into the JSON API's shape, and what the form needs to render again."""
from __future__ import annotations

import re
import uuid
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from common import i18n
from common.errors import InvalidField
from common.i18n import N_
from common.models import Enterprise, Visit
from common.reference import HAZARD_SEVERITIES, VISIT_KINDS
from common.validation import MAX_CHECKLIST_ANSWERS, MAX_HAZARDS
from common.visits.reference import CHECK_RESULTS, item_label
from common.web.errors import field_errors

CST = ZoneInfo("Asia/Shanghai")
TEXT_FIELDS = ("enterprise_id", "visited_at", "kind", "visitors", "findings", "guidance", "topic", "attendance",
               "latitude", "longitude")
CHECK_FIELD = re.compile(r"^checklist\[([a-z][a-z0-9_]{0,63})\]$")
HAZARD_FIELD = re.compile(r"^hazards\[(\d{1,6})\]\[(description|severity)\]$")
BLANK_HAZARD = {"description": "", "severity": "medium"}
CASE_TEXT_LIMIT = 1500


def visit_data(form: Any) -> dict[str, Any]:
    """Form fields named as the API's (`hazards[0][description]`, `checklist[fire_safety]`) into the API's dict."""
    data: dict[str, Any] = {name: str(form.get(name) or "").strip() for name in TEXT_FIELDS if name in form}
    checklist: dict[str, str] = {}
    rows: dict[int, dict[str, str]] = {}
    for name, value in form.multi_items():
        if not isinstance(value, str):
            continue
        if match := CHECK_FIELD.fullmatch(name):
            checklist[match.group(1)] = value if value in CHECK_RESULTS else "na"
        elif match := HAZARD_FIELD.fullmatch(name):
            rows.setdefault(int(match.group(1)), {})[match.group(2)] = value.strip()
    # One past the bound is enough for the service to refuse the list (common/validation.py), and keeps the page
    # shown again beside the error as small as a form that fits.
    data["checklist"] = dict(list(checklist.items())[:MAX_CHECKLIST_ANSWERS + 1])
    # A row left blank is a row the person did not use, not a hazard without a description.
    data["hazards"] = [{"description": row.get("description", ""), "severity": row.get("severity") or "medium"}
                       for _, row in sorted(rows.items()) if row.get("description")][:MAX_HAZARDS + 1]
    return data


def error_map(exc: InvalidField) -> dict[str, str]:
    """Field → its messages in the page's language, to show next to that field."""
    out: dict[str, list[str]] = {}
    for item in field_errors(exc):
        field = "photos" if item["field"] == "file" else item["field"]
        out.setdefault(field, []).append(item["message"])
    return {field: "；".join(dict.fromkeys(messages)) for field, messages in out.items()}


def local_input(moment: datetime | None = None) -> str:
    """A moment as a `datetime-local` input shows it, in China Standard Time."""
    return (moment or datetime.now(CST)).astimezone(CST).strftime("%Y-%m-%dT%H:%M")


def blank_values(enterprise_id: str = "") -> dict[str, Any]:
    """A new visit: now, a safety visit, for the enterprise the link came from."""
    return {"enterprise_id": enterprise_id, "visited_at": local_input(), "kind": "safety", "visitors": "", "findings": "",
            "guidance": "", "topic": "", "attendance": "", "latitude": "", "longitude": "", "checklist": {},
            "hazards": []}


def form_values(data: dict[str, Any]) -> dict[str, Any]:
    """What the person sent, to fill the form again beside its errors."""
    return {**blank_values(), **data}


def hazard_rows(values: dict[str, Any]) -> list[dict[str, str]]:
    """The hazards already entered, and one empty row to add another without JavaScript."""
    return [*values.get("hazards", []), dict(BLANK_HAZARD)]


def parse_uuid(value: str | None) -> uuid.UUID | None:
    """A query's id, or None when it is not one (a stale link must not fail the page)."""
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def parse_day(value: str | None) -> date | None:
    """A filter's date, or None: a half-typed date in the filter form narrows nothing."""
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def day_start(day: date) -> datetime:
    """Days of the filter are the office's days (China Standard Time), not UTC ones."""
    return datetime(day.year, day.month, day.day, tzinfo=CST)


def day_end(day: date) -> datetime:
    return day_start(day) + timedelta(days=1)


def checklist_rows(items: list[dict[str, str]], results: dict[str, Any]) -> list[dict[str, str]]:
    """The visit's answers under the current checklist; answers to items since removed are kept at the end."""
    language = i18n.current_language()
    rows = [{"key": item["key"], "label": item_label(item, language), "result": str(results.get(item["key"], "na"))}
            for item in items]
    known = {item["key"] for item in items}
    rows += [{"key": key, "label": key, "result": str(value)} for key, value in results.items() if key not in known]
    return rows


def case_link(visit: Visit, enterprise: Enterprise, hazard: dict[str, str] | None = None) -> str:
    """/cases/new prefilled from the visit (all of its findings, or one hazard), for the cases pages to read."""
    kind = i18n.gettext(VISIT_KINDS.get(visit.kind, visit.kind))
    when = visit.visited_at.astimezone(CST).strftime("%Y-%m-%d")
    if hazard is not None:
        severity = i18n.gettext(HAZARD_SEVERITIES.get(hazard.get("severity", ""), ""))
        title = hazard.get("description", "")
        description = i18n.gettext(N_("Found on the {kind} of {date} at {name} ({severity}): {text}"), kind=kind,
                                   date=when, name=enterprise.name, severity=severity, text=hazard.get("description", ""))
    else:
        title = i18n.gettext(N_("Visit finding at {name}"), name=enterprise.name)
        lines = [i18n.gettext(N_("{kind} of {date}"), kind=kind, date=when)]
        if visit.findings:
            lines.append(visit.findings)
        lines += [f"[{i18n.gettext(HAZARD_SEVERITIES.get(h.get('severity', ''), ''))}] {h.get('description', '')}"
                  for h in visit.hazards or []]
        description = "\n".join(lines)
    query = {"enterprise_id": str(enterprise.id), "channel": "visit", "title": title[:200],
             "description": description[:CASE_TEXT_LIMIT]}
    return "/cases/new?" + urlencode(query)
