"""The case rules kept as data: each category's own fields (Art. 17), deadlines, the emergency plan, routing.

Pages and the API read these tables; the service validates against them. Nothing here touches the database
except through `settings` (the routing table the office changes at the hub).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from common.errors import InvalidField
from common.i18n import N_
from common.reference import CATEGORIES, UNITS
from common.service import Problems

# ── Category fields ─────────────────────────────────────────────────────────────────────────────────────────────

@dataclass(frozen=True)
class DetailField:
    """One extra field of a category, kept in `Case.details[key]`; `kind` says how it is typed and checked."""

    key: str
    label: str
    kind: str = "text"  # text / longtext / choice / amount / count / date / phone
    options: dict[str, str] = field(default_factory=dict)
    max_len: int = 200
    hint: str = ""

    @property
    def name(self) -> str:
        """The form field's name, the same path as in the JSON (`details.amount`)."""
        return f"details.{self.key}"


LICENSING_SERVICES = {"household": N_("Household registration"), "traffic": N_("Traffic administration"),
                      "exit_entry": N_("Exit and entry")}
DISPUTE_KINDS = {"contract": N_("Contract"), "debt": N_("Debt"), "labour": N_("Labour and wages"),
                 "compensation": N_("Compensation")}
CERTIFICATE_KINDS = {"no_criminal_record": N_("No-criminal-record certificate"),
                     "household_extract": N_("Household register extract"), "residence": N_("Residence permit"),
                     "other": N_("Other certificate")}
CONSULTATION_TOPICS = {"legal": N_("Laws and regulations"), "policy": N_("Policies"), "labour": N_("Labour and social insurance"),
                       "other": N_("Other topic")}
COOPERATION_KINDS = {"investigation": N_("Joint investigation"), "evidence": N_("Evidence and records"),
                     "joint_action": N_("Joint action on site"), "other": N_("Other cooperation")}

CATEGORY_FIELDS: dict[str, tuple[DetailField, ...]] = {
    "criminal_report": (
        DetailField("occurred_on", N_("Date it happened"), "date"),
        DetailField("place", N_("Place of the incident")),
        DetailField("loss_amount", N_("Loss (yuan)"), "amount"),
        DetailField("suspects", N_("Suspects or clues"), "longtext", max_len=2000),
    ),
    "dispute_mediation": (
        DetailField("parties", N_("Parties to the dispute"), "longtext", max_len=2000),
        DetailField("people_count", N_("Number of people gathered"), "count"),
        DetailField("place", N_("Where it happens")),
    ),
    "key_person": (
        DetailField("person_name", N_("Name of the key person"), max_len=50),
        DetailField("concern", N_("Risk to be controlled"), "longtext", max_len=2000),
    ),
    "licensing": (
        DetailField("service", N_("Licensing service"), "choice", LICENSING_SERVICES),
        DetailField("applicants", N_("Number of applicants"), "count"),
        DetailField("needed_by", N_("Needed by"), "date"),
    ),
    "certificate": (
        DetailField("certificate", N_("Certificate"), "choice", CERTIFICATE_KINDS),
        DetailField("applicant_name", N_("Applicant"), max_len=50),
    ),
    "consultation": (
        DetailField("topic", N_("Topic"), "choice", CONSULTATION_TOPICS),
    ),
    "economic_dispute": (
        DetailField("dispute_kind", N_("Kind of dispute"), "choice", DISPUTE_KINDS),
        DetailField("amount", N_("Amount in dispute (yuan)"), "amount"),
        DetailField("counterparty", N_("Other party")),
        DetailField("workers_involved", N_("Workers involved"), "count"),
    ),
    "police_cooperation": (
        DetailField("partner_agency", N_("Police or agency elsewhere")),
        DetailField("cooperation", N_("Kind of cooperation"), "choice", COOPERATION_KINDS),
    ),
    "other": (),
}

# Fields every category has; the caller's name and phone are the 110 hotline's (masked per role in views).
COMMON_FIELDS: tuple[DetailField, ...] = (
    DetailField("people_involved", N_("People involved"), "longtext", max_len=2000,
                hint=N_("Names, positions and phone numbers of the people concerned")),
)
CALLER_FIELDS: tuple[DetailField, ...] = (
    DetailField("caller_name", N_("Caller's name"), max_len=50),
    DetailField("caller_phone", N_("Caller's phone"), "phone", max_len=20),
)
# Written by the service itself (the emergency plan's progress), never from a form.
RESERVED_KEYS = frozenset({"plan_steps"})

AMOUNT_MAX = Decimal(1000000000000)
COUNT_MAX = 1_000_000
PHONE = re.compile(r"^\+?[0-9][0-9 -]{4,19}$")


def fields_of(category: str | None) -> tuple[DetailField, ...]:
    """The fields a case of `category` may carry in its details, its own first."""
    return (*CATEGORY_FIELDS.get(category or "", ()), *COMMON_FIELDS, *CALLER_FIELDS)


def clean_details(category: str | None, details: Any) -> dict[str, Any]:
    """Check `details` against the category's fields: unknown keys and bad values are refused, blanks dropped."""
    if not isinstance(details, dict):
        raise InvalidField("details", N_("Not one of the allowed values"))
    specs = {f.key: f for f in fields_of(category)}
    problems = Problems()
    out: dict[str, Any] = {}
    for key, value in details.items():
        key = str(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        spec = specs.get(key)
        if spec is None:
            problems.add(f"details.{key}"[:80], N_("Not a field of this category"))
            continue
        cleaned = problems.check(_clean_value, spec, value)
        if cleaned is not None:
            out[key] = cleaned
    problems.raise_if_any()
    return out


def _clean_value(spec: DetailField, value: Any) -> Any:
    text = str(value).strip()
    if spec.kind == "choice":
        if text not in spec.options:
            raise InvalidField(spec.name, N_("Not one of the allowed values"))
        return text
    if spec.kind == "amount":
        return _amount(spec, value)
    if spec.kind == "count":
        if isinstance(value, bool) or not text.isdigit() or int(text) > COUNT_MAX:
            raise InvalidField(spec.name, N_("Enter a whole number of people, e.g. 12"))
        return int(text)
    if spec.kind == "date":
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            raise InvalidField(spec.name, N_("Enter a date as YYYY-MM-DD")) from None
    if spec.kind == "phone" and not PHONE.fullmatch(text):
        raise InvalidField(spec.name, N_("Enter a phone number of digits, e.g. 13800000000"))
    if len(text) > spec.max_len:
        raise InvalidField(spec.name, N_("At most {max} characters"), max=spec.max_len)
    return text


def _amount(spec: DetailField, value: Any) -> int | float:
    """Yuan as a JSON number: whole yuan stay integers, fen are kept to two places."""
    try:
        amount = Decimal(str(value).strip().replace(",", "").replace("，", ""))
    except InvalidOperation:
        amount = Decimal("NaN")
    if isinstance(value, bool) or not amount.is_finite() or amount < 0 or amount > AMOUNT_MAX:
        raise InvalidField(spec.name, N_("Enter an amount in yuan, e.g. 120000"))
    amount = amount.quantize(Decimal("0.01"))
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def mask_details(details: dict[str, Any], police: bool) -> dict[str, Any]:
    """The details as a person may see them: the hotline caller's phone masked to everyone (seen in full only as a
    recorded look, common/roster/reveal.py), the caller's name to all but the police roles."""
    out = dict(details)
    if out.get("caller_name") and not police:
        name = str(out["caller_name"])
        out["caller_name"] = name[:1] + "*" * max(1, len(name) - 1)
    if out.get("caller_phone"):
        phone = str(out["caller_phone"])
        out["caller_phone"] = phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"
    return out


# ── Deadlines ───────────────────────────────────────────────────────────────────────────────────────────────────

@dataclass(frozen=True)
class Deadlines:
    """How long each step may take at one urgency: take in / sign for (签收), resolve and report back, progress."""

    sign: timedelta
    resolve: timedelta
    progress: timedelta  # between progress reports once the emergency plan runs


DEADLINES: dict[str, Deadlines] = {
    "routine": Deadlines(sign=timedelta(hours=24), resolve=timedelta(days=15), progress=timedelta(hours=24)),
    "urgent": Deadlines(sign=timedelta(hours=2), resolve=timedelta(days=3), progress=timedelta(hours=8)),
    "major": Deadlines(sign=timedelta(hours=1), resolve=timedelta(days=2), progress=timedelta(hours=4)),
    "mass_incident": Deadlines(sign=timedelta(minutes=30), resolve=timedelta(days=1), progress=timedelta(hours=2)),
}


def deadlines_for(urgency: str | None) -> Deadlines:
    return DEADLINES.get(urgency or "routine", DEADLINES["routine"])


# ── The emergency plan (Art. 18(2)) ─────────────────────────────────────────────────────────────────────────────

EMERGENCY_PLAN: dict[str, str] = {
    "leaders_notified": N_("Center leaders notified"),
    "units_staffed": N_("Each linkage unit has named its officers"),
    "local_police_contacted": N_("Police where it happened contacted"),
    "enterprise_contacted": N_("Enterprise contacted and on-site contact named"),
    "situation_stable": N_("Situation under control"),
    "final_report": N_("Final report delivered to the office"),
}


# ── Routing: which units the office dispatches each category to (the office changes it) ────────────────────────

ROUTING_KEY = "case_routing"
UNIT_IDS = frozenset(unit_id for unit_id, _, _ in UNITS)

DEFAULT_ROUTING: dict[str, dict[str, Any]] = {
    "criminal_report": {"lead": "criminal-investigation", "co": []},
    "dispute_mediation": {"lead": "public-order", "co": ["command-center"]},
    "key_person": {"lead": "political-security", "co": ["internal-security"]},
    "licensing": {"lead": "exit-entry", "co": []},
    "certificate": {"lead": "public-order", "co": []},
    "consultation": {"lead": "legal", "co": []},
    "economic_dispute": {"lead": "economic-crime", "co": ["legal"]},
    "police_cooperation": {"lead": "command-center", "co": []},
    "other": {"lead": "command-center", "co": []},
}


def check_routing(value: Any) -> dict[str, dict[str, Any]]:
    """A routing table as the office may keep it: every category, a known lead, co-units known and not the lead."""
    if not isinstance(value, dict):
        raise InvalidField("routing", N_("Not one of the allowed values"))
    problems = Problems()
    out: dict[str, dict[str, Any]] = {}
    for category in CATEGORIES:
        entry = value.get(category) or {}
        lead = entry.get("lead") if isinstance(entry, dict) else None
        co = entry.get("co") if isinstance(entry, dict) else None
        if lead not in UNIT_IDS:
            problems.add(f"{category}.lead", N_("No such police unit"))
            continue
        co_units = list(dict.fromkeys(co or []))
        if any(unit not in UNIT_IDS for unit in co_units):
            problems.add(f"{category}.co", N_("No such police unit"))
            continue
        out[category] = {"lead": lead, "co": [unit for unit in co_units if unit != lead]}
    unknown = set(value) - set(CATEGORIES)
    if unknown:
        problems.add("routing", N_("Not one of the allowed values"))
    problems.raise_if_any()
    return out


def register_settings() -> None:
    from common.center import settings

    settings.register(ROUTING_KEY, DEFAULT_ROUTING, check_routing, label=N_("Case routing"))


register_settings()
