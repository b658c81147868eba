"""What a visit checks and how often each enterprise is due one: office-kept lists with their defaults (Art. 13, 17(6))."""
from __future__ import annotations

import re
from typing import Any

from common.errors import InvalidField
from common.i18n import N_
from common.reference import RISK_LEVELS
from common.center import settings

CHECKLIST_KEY = "visit_checklist"
CADENCE_KEY = "visit_cadence"

# A checklist item's key is what a visit stores its result under, so it stays stable when the label changes.
ITEM_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_ITEMS = 40
MAX_CADENCE_DAYS = 3650

# What the office checks on a safety visit unless it has changed the list: labels are data, in both languages.
DEFAULT_CHECKLIST: list[dict[str, str]] = [
    {"key": "fire_safety", "label": "消防安全", "label_en": "Fire safety"},
    {"key": "security_staff", "label": "安保力量与门卫", "label_en": "Security staff and gatekeeping"},
    {"key": "labour_relations", "label": "劳资关系与工资支付", "label_en": "Labour relations and wage payment"},
    {"key": "personnel_stability", "label": "人员思想稳定", "label_en": "Personnel stability"},
    {"key": "dormitory_safety", "label": "宿舍与生活区安全", "label_en": "Dormitory and living-area safety"},
    {"key": "hazardous_materials", "label": "危险物品管理", "label_en": "Hazardous materials"},
    {"key": "fraud_prevention", "label": "防诈骗宣传", "label_en": "Fraud-prevention awareness"},
]

# Days between visits by the enterprise's risk level (common.reference.RISK_LEVELS).
DEFAULT_CADENCE: dict[str, int] = {"high": 30, "medium": 90, "low": 180}

# A visit's answer for each checklist item.
CHECK_RESULTS = {"ok": N_("In order"), "issue": N_("Problem found"), "na": N_("Not checked")}


def check_checklist(value: Any) -> list[dict[str, str]]:
    """A non-empty list of items with unique keys and a Chinese label; refuses anything else whole."""
    if not isinstance(value, list) or not value:
        raise InvalidField("checklist", N_("The checklist needs at least one item"))
    if len(value) > MAX_ITEMS:
        raise InvalidField("checklist", N_("At most {max} items"), max=MAX_ITEMS)
    items: list[dict[str, str]] = []
    seen: set[str] = set()
    for raw in value:
        if not isinstance(raw, dict):
            raise InvalidField("checklist", N_("Not one of the allowed values"))
        key = str(raw.get("key") or "").strip()
        label = str(raw.get("label") or "").strip()
        label_en = str(raw.get("label_en") or "").strip()
        if not ITEM_KEY.fullmatch(key):
            raise InvalidField("checklist", N_("Item keys are lower-case letters, digits and underscores: {key}"), key=key)
        if key in seen:
            raise InvalidField("checklist", N_("The key {key} is used twice"), key=key)
        if not label or len(label) > 100 or len(label_en) > 100:
            raise InvalidField("checklist", N_("Each item needs a name of at most 100 characters"))
        seen.add(key)
        items.append({"key": key, "label": label, "label_en": label_en})
    return items


def check_cadence(value: Any) -> dict[str, int]:
    """Whole days for every risk level, between one and ten years."""
    if not isinstance(value, dict):
        raise InvalidField("cadence", N_("Not one of the allowed values"))
    out: dict[str, int] = {}
    for level in RISK_LEVELS:
        raw = value.get(level)
        try:
            days = int(str(raw).strip())
        except (TypeError, ValueError):
            raise InvalidField(f"cadence_{level}", N_("Between 1 and {max} days"), max=MAX_CADENCE_DAYS) from None
        if not 1 <= days <= MAX_CADENCE_DAYS:
            raise InvalidField(f"cadence_{level}", N_("Between 1 and {max} days"), max=MAX_CADENCE_DAYS)
        out[level] = days
    return out


def item_label(item: dict[str, str], language: str) -> str:
    """The item's name in the page's language; Chinese when no English name was given."""
    if language == "en" and item.get("label_en"):
        return item["label_en"]
    return item.get("label") or item.get("key", "")


settings.register(CHECKLIST_KEY, DEFAULT_CHECKLIST, check_checklist, N_("Visit checklist"))
settings.register(CADENCE_KEY, DEFAULT_CADENCE, check_cadence, N_("Visit cadence"))
