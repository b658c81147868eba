"""The choices of risk information: its categories, severities and review statuses."""
from __future__ import annotations

from common.i18n import N_

INFO_CATEGORIES = {
    "public_security": N_("Public security"),
    "political_security": N_("Political security"),
    "economic": N_("Economic and business risk"),
    "labour": N_("Labour dispute"),
    "mass_incident": N_("Possible mass incident"),
    "personal_safety": N_("Personal safety"),
    "cyber": N_("Cyber and fraud"),
    "other": N_("Other"),
}
SEVERITIES = {"low": N_("Low"), "medium": N_("Medium"), "high": N_("High")}
INFO_STATUSES = {"submitted": N_("Awaiting review"), "adopted": N_("Adopted"), "not_adopted": N_("Not adopted")}
DECISIONS = ("adopted", "not_adopted")
