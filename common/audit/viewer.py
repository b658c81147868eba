"""Reading the audit trail: the office's filters, newest first in keyset pages, personal data masked in the details."""
from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Mapping
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from common import policy
from common.i18n import N_
from common.models import AuditEntry, Bulletin, Case, Enterprise, NodeApplication, User
from common.policy import Principal
from common.service import SENSITIVE, Problems
from common.validation import mask_id_number, mask_phone

CST = ZoneInfo("Asia/Shanghai")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200

#: Detail keys whose values are node ids (a change of `node_id`, an enterprise's `node`, a reminder's `nodes`…).
NODE_KEYS = frozenset({"node", "node_id", "nodes", "parent_id", "parent_node", "target_node", "created_node",
                       "from_node", "to_node"})

#: Where each kind of entity is shown, for a link from its entries.
ENTITY_PAGES = {
    "enterprise": "/enterprises/{id}",
    "case": "/cases/{id}",
    "visit": "/visits/{id}",
    "bulletin": "/bulletins/{id}",
    "application": "/applications/{id}",
    "meeting": "/meetings/{id}",
    "survey": "/surveys/{id}",
}

ENTITY_LABELS = {
    "enterprise": N_("Enterprise"), "person": N_("Person of an enterprise"), "case": N_("Case"), "visit": N_("Visit"),
    "bulletin": N_("Bulletin record"), "application": N_("Application"), "node": N_("Node record"),
    "user": N_("User account"), "attachment": N_("Attached file"), "setting": N_("Setting record"),
    "oauth": N_("Authorization"), "oauth_client": N_("Connected application"), "signing_key": N_("Signing key"),
    "roster": N_("Roster data"),
    "meeting": N_("Meeting"), "survey": N_("Questionnaire"), "survey_answer": N_("Questionnaire answer"),
}

ACTION_LABELS = {
    "create": N_("Created"), "update": N_("Changed"), "delete": N_("Deleted"),
    "login.ok": N_("Logged in"), "login.offline": N_("Logged in offline"), "login.fail": N_("Login failed"),
    "login.totp_required": N_("Second factor asked for"), "login.totp_fail": N_("Wrong second-factor code"),
    "login.refused": N_("Login refused"), "login.refused_node": N_("Login refused: node out of service"),
    "login.throttled": N_("Login held back: too many attempts"), "login.locked": N_("Account locked"),
    "logout": N_("Logged out"),
    "case.accepted": N_("Case accepted"), "case.dispatched": N_("Case dispatched"), "case.signed": N_("Case signed for"),
    "case.returned": N_("Case returned by the unit"), "case.reported": N_("Case reported back"),
    "case.filed": N_("Case filed"), "case.escalated": N_("Emergency plan started"),
    "case.jwg_requested": N_("Joint working group requested"), "case.jwg_approved": N_("Joint working group approved"),
    "case.jwg_rejected": N_("Joint working group turned down"), "case.transferred": N_("Case transferred"),
    "case.comment": N_("Case comment"), "case.callback": N_("Case callback"), "case.reopened": N_("Case reopened"),
    "case.extension_requested": N_("Extension requested"), "case.extension_approved": N_("Extension approved"),
    "case.extension_rejected": N_("Extension turned down"), "case.urged": N_("Case urged"),
    "case.supervised": N_("Case supervised"), "case.plan_step": N_("Emergency plan step"),
    "application.approve": N_("Application approved"), "application.reject": N_("Application turned down"),
    "application.return": N_("Application returned for changes"), "application.comment": N_("Review note on an application"),
    "enrollment-code": N_("Enrollment code issued"),
    "bulletin.publish": N_("Bulletin published"), "bulletin.ack": N_("Bulletin acknowledged"),
    "bulletin.remind": N_("Acknowledgement reminder sent"),
    "meeting.held": N_("Meeting held"), "meeting.closed": N_("Meeting closed"),
    "survey.sent": N_("Questionnaire sent"), "survey.answered": N_("Questionnaire answered"),
    "person.revealed": N_("Personal data shown in full"),
    "account.setup_issued": N_("Setup link issued"), "account.setup_used": N_("Password set by setup link"),
    "account.disabled": N_("Account disabled"), "account.enabled": N_("Account enabled"),
    "account.password_changed": N_("Password changed"), "account.totp_enabled": N_("Authenticator app set up"),
    "account.totp_removed": N_("Authenticator app removed"),
    "security.setup_refused": N_("Setup link refused"),
    "security.password_change_refused": N_("Password change refused: wrong current password"),
    "security.totp_enrol_refused": N_("Authenticator set-up refused: wrong code"),
    "security.totp_remove_refused": N_("Authenticator removal refused: wrong code"),
    "sync.conflict_resolved": N_("Sync conflict resolved"), "sync.kept_for_review": N_("Sync change kept for review"),
    "sync.directory": N_("Node directory received"),
    "security.sync_rejected": N_("Sync change refused"), "security.sync_stamped": N_("Sync change corrected"),
    "security.blob_refused": N_("File refused: checksum mismatch"),
    "security.search_burst": N_("Too many searches of people"),
    "security.enrollment_refused": N_("Enrollment refused"),
    "token.issued": N_("Token issued"), "token.refreshed": N_("Token refreshed"), "token.revoked": N_("Token revoked"),
    "token.refused": N_("Token refused"), "token.reuse_detected": N_("Reuse of a token detected"),
    "token.family_revoked": N_("Token chain revoked"), "token.insufficient_scope": N_("Token lacks the scope"),
    "oauth.code_issued": N_("Authorization code issued"), "oauth.refused": N_("Authorization refused"),
    "oauth.client_created": N_("Connected application registered"), "oauth.keys_rotated": N_("Signing keys rotated"),
    "client.disable": N_("Connected application disabled"), "client.enable": N_("Connected application enabled"),
    "client.revoke": N_("Connected application's tokens revoked"),
    "node.enrolled": N_("Node enrolled"), "node.address": N_("Node address changed"),
    "node.refused_by_hub": N_("Node refused by the hub"),
    "totp.enabled": N_("Second factor turned on"), "totp.disabled": N_("Second factor turned off"),
    "seed-demo": N_("Demo data loaded"),
}

MSG_DATE = N_("Not a valid date or date and time, e.g. 2026-12-01 or 2026-12-01T08:30")
MSG_ORDER = N_("The end comes before the start")
MSG_CURSOR = N_("Not a cursor this list gave out")
MSG_TOO_LONG = N_("At most {max} characters")

# Free text in details (a review note, a changed description) may hold an ID number or a mobile number.
_ID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")
_MOBILE_IN_TEXT = re.compile(r"(?<![0-9])(?:\+?86[- ]?)?1[3-9][0-9]{9}(?![0-9])")
# Keys whose values are a person's contact, whatever their form.
_PERSONAL_KEYS = SENSITIVE | {"caller_phone", "mobile", "id_card"}
_NAME_KEYS = frozenset({"caller_name"})


@dataclass(frozen=True)
class AuditFilters:
    """What the office asked for, checked; `until` is exclusive (a bare date runs to that day's end)."""

    action: str = ""
    actor: str = ""
    node: str = ""
    entity: str = ""
    entity_id: str = ""
    since: datetime | None = None
    until: datetime | None = None
    after: tuple[datetime, uuid.UUID] | None = None  # the cursor: the last entry of the previous page


def _moment(problems: Problems, field: str, value: str | None, end: bool) -> datetime | None:
    text = (value or "").strip()
    if not text:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime(day.year, day.month, day.day, tzinfo=CST)
            moment = start + timedelta(days=1) if end else start
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=CST)  # the office's clock, as on every page
            # An end given to the microsecond includes that moment.
            moment = moment + timedelta(microseconds=1) if end else moment
        # Stored times are UTC: a moment that has none (the year 1 in Beijing, the end of year 9999) is no filter.
        return moment.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        problems.add(field, MSG_DATE)
        return None


def _text(problems: Problems, field: str, value: str | None, max_len: int) -> str:
    text = (value or "").strip()
    if len(text) > max_len:
        problems.add(field, MSG_TOO_LONG, max=max_len)
        return ""
    return text


def encode_cursor(entry: AuditEntry) -> str:
    raw = json.dumps([entry.at.isoformat(), str(entry.id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(problems: Problems, value: str | None) -> tuple[datetime, uuid.UUID] | None:
    text = (value or "").strip()
    if not text:
        return None
    try:
        at, entry_id = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None:
            raise ValueError("naive")
        return moment, uuid.UUID(entry_id)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        problems.add("cursor", MSG_CURSOR)
        return None


def parse_filters(query: Mapping[str, str | None]) -> AuditFilters:
    """The filters from a query string; every refused field named at once (InvalidField)."""
    problems = Problems()
    entity_id = _text(problems, "entity_id", query.get("entity_id"), 64)
    try:
        entity_id = str(uuid.UUID(entity_id)) if entity_id else ""  # any spelling of an id finds its entries
    except ValueError:
        pass  # nodes, keys and settings are named by text
    filters = AuditFilters(
        action=_text(problems, "action", query.get("action"), 40),
        actor=_text(problems, "actor", query.get("actor"), 64),
        node=_text(problems, "node", query.get("node"), 64),
        entity=_text(problems, "entity", query.get("entity"), 40),
        entity_id=entity_id,
        since=_moment(problems, "since", query.get("since"), end=False),
        until=_moment(problems, "until", query.get("until"), end=True),
        after=_decode_cursor(problems, query.get("cursor")),
    )
    if filters.since and filters.until and filters.until <= filters.since:
        problems.add("until", MSG_ORDER)
    problems.raise_if_any()
    return filters


def entry_query(p: Principal, filters: AuditFilters) -> Select[Any]:
    """The entries the filters select, newest first; only the office sees any."""
    policy.require_office(p)
    stmt = policy.scoped(AuditEntry, p)
    if filters.action:
        stmt = stmt.where(AuditEntry.action == filters.action)
    if filters.actor:
        by_name = AuditEntry.actor == filters.actor
        try:
            stmt = stmt.where(or_(by_name, AuditEntry.actor_id == uuid.UUID(filters.actor)))
        except ValueError:
            stmt = stmt.where(by_name)
    if filters.node:
        stmt = stmt.where(AuditEntry.node_id == filters.node)
    if filters.entity:
        stmt = stmt.where(AuditEntry.entity_type == filters.entity)
    if filters.entity_id:
        stmt = stmt.where(AuditEntry.entity_id == filters.entity_id)
    if filters.since:
        stmt = stmt.where(AuditEntry.at >= filters.since)
    if filters.until:
        stmt = stmt.where(AuditEntry.at < filters.until)
    if filters.after:
        at, entry_id = filters.after
        stmt = stmt.where(or_(AuditEntry.at < at, and_(AuditEntry.at == at, AuditEntry.id < entry_id)))
    return stmt.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())


@dataclass
class AuditPage:
    entries: list[AuditEntry]
    next_cursor: str | None
    names: dict[uuid.UUID, str]  # actor id → the person's name


def read_page(session: Session, p: Principal, filters: AuditFilters, limit: int = DEFAULT_LIMIT) -> AuditPage:
    limit = max(1, min(limit, MAX_LIMIT))
    rows = list(session.scalars(entry_query(p, filters).limit(limit + 1)))
    entries = rows[:limit]
    actor_ids = {e.actor_id for e in entries if e.actor_id}
    names = dict(session.execute(select(User.id, User.display_name).where(User.id.in_(actor_ids))).all()) if actor_ids else {}
    return AuditPage(entries, encode_cursor(entries[-1]) if len(rows) > limit else None, names)


def record_names(session: Session, entries: list[AuditEntry]) -> dict[str, str]:
    """Entity id → how people know the record (an enterprise's name, a case's number…), for the entries shown."""
    columns = {"enterprise": (Enterprise, Enterprise.name), "case": (Case, Case.number),
               "bulletin": (Bulletin, Bulletin.title), "application": (NodeApplication, NodeApplication.name)}
    wanted: dict[str, set[uuid.UUID]] = {}
    for entry in entries:
        if entry.entity_type in columns and entry.entity_id:
            try:
                wanted.setdefault(entry.entity_type, set()).add(uuid.UUID(entry.entity_id))
            except ValueError:
                continue
    names: dict[str, str] = {}
    for kind, ids in wanted.items():
        model, column = columns[kind]
        names.update({str(i): str(n) for i, n in session.execute(select(model.id, column).where(model.id.in_(ids)))})
    return names


def mask_detail(value: Any, key: str = "") -> Any:
    """The details as the viewer shows them: ID numbers and phones never in full, under their own key or in text."""
    if isinstance(value, dict):
        return {k: mask_detail(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_detail(v, key) for v in value]
    if not isinstance(value, str) or not value or value == "***":
        return value
    if key in _PERSONAL_KEYS:
        return mask_id_number(value) if key in ("id_number", "id_card") else mask_phone(value)
    if key in _NAME_KEYS:
        return value[:1] + "*" * max(1, len(value) - 1)
    value = _ID_IN_TEXT.sub(lambda m: mask_id_number(m.group(0)), value)
    return _MOBILE_IN_TEXT.sub(lambda m: mask_phone(m.group(0)), value)


def entity_url(entry: AuditEntry) -> str | None:
    pattern = ENTITY_PAGES.get(entry.entity_type)
    if not pattern or not entry.entity_id:
        return None
    try:
        return pattern.format(id=uuid.UUID(entry.entity_id))
    except ValueError:
        return None


def entry_out(entry: AuditEntry, names: Mapping[uuid.UUID, str]) -> dict[str, Any]:
    return {
        "id": str(entry.id),
        "seq": entry.seq,
        "node": entry.node_id,
        "at": entry.at.isoformat(),
        "actor": {"id": str(entry.actor_id) if entry.actor_id else None, "username": entry.actor,
                  "name": names.get(entry.actor_id, "") if entry.actor_id else ""},
        "action": entry.action,
        "entity_type": entry.entity_type,
        "entity_id": entry.entity_id,
        "detail": mask_detail(entry.detail or {}),
        "address": entry.address,
    }


def _as_text(value: Any) -> str:
    if value is None or value == "":
        return "—"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _named_nodes(value: Any, key: str, nodes: Mapping[str, str]) -> Any:
    """`value` with the node ids under a node key (at any depth: a change's pair, a bulletin's targets) replaced by
    the nodes' names."""
    if key in NODE_KEYS:
        if isinstance(value, str):
            return nodes.get(value, value)
        if isinstance(value, list):
            return [_named_nodes(item, key, nodes) for item in value]
    if isinstance(value, dict):
        return {k: _named_nodes(v, str(k), nodes) for k, v in value.items()}
    return value


def detail_lines(detail: Mapping[str, Any], nodes: Mapping[str, str] | None = None) -> list[tuple[str, str, str]]:
    """The (masked) details as lines of text, (key, text, recorded): a change as one line per field, "before →
    after". With `nodes` (id → name), a node is named as people know it and `recorded` keeps the line with the ids
    as the trail holds them (for a title); otherwise `recorded` is empty."""
    lines: list[tuple[str, str, str]] = []
    for key, value in detail.items():
        changes = key == "changed" and isinstance(value, dict)
        for name, recorded in value.items() if changes else [(key, value)]:
            shown = _named_nodes(recorded, str(name), nodes) if nodes else recorded
            lines.append((str(name), _line(shown, changes), _line(recorded, changes) if shown != recorded else ""))
    return lines


def _line(value: Any, change: bool) -> str:
    if change and isinstance(value, list) and len(value) == 2:
        return f"{_as_text(value[0])} → {_as_text(value[1])}"
    return _as_text(value)
