"""Reference vocabularies of the work rules: police units (Art. 16), case categories (Art. 17) and the rest."""
from __future__ import annotations

from common.i18n import N_

# (id, Chinese name, English name) — ids are part of the outside contract.
UNITS: list[tuple[str, str, str]] = [
    ("command-center", "指挥中心", "Command Center"),
    ("political-security", "政保大队", "Political Security Brigade"),
    ("criminal-investigation", "刑侦大队", "Criminal Investigation Brigade"),
    ("public-order", "治安大队", "Public Order Brigade"),
    ("traffic", "交警大队", "Traffic Police Brigade"),
    ("economic-crime", "经侦大队", "Economic Crime Brigade"),
    ("legal", "法制大队", "Legal Affairs Brigade"),
    ("cyber-security", "网安大队", "Cyber Security Brigade"),
    ("exit-entry", "出入境管理大队", "Exit-Entry Administration Brigade"),
    ("internal-security", "内保大队", "Internal Security Brigade"),
    ("ps-huilong", "汇龙派出所", "Huilong Police Station"),
    ("ps-lvsigang", "吕四港派出所", "Lüsigang Police Station"),
    ("ps-nanyang", "南阳派出所", "Nanyang Police Station"),
    ("ps-haifu", "海复派出所", "Haifu Police Station"),
]

CHANNELS = {
    "hotline": N_("110 hotline"),
    "platform": N_("Platform"),
    "wechat": N_("WeChat work group"),
    "visit": N_("On-site visit"),
    "walk_in": N_("Walk-in"),
}

# Art. 17: what the center takes in. Category ids are stable; labels are translated.
CATEGORIES = {
    "criminal_report": N_("Criminal report"),
    "dispute_mediation": N_("Dispute mediation"),
    "key_person": N_("Key-person control and education"),
    "licensing": N_("Administrative licensing green channel"),
    "certificate": N_("Certificates and attestations"),
    "consultation": N_("Legal and policy consultation"),
    "economic_dispute": N_("Economic-dispute guidance"),
    "police_cooperation": N_("Police cooperation"),
    "other": N_("Other"),
}

URGENCIES = {
    "routine": N_("Routine"),
    "urgent": N_("Urgent"),
    "major": N_("Major case"),
    "mass_incident": N_("Mass incident"),
}
URGENCY_RANK = {"mass_incident": 0, "major": 1, "urgent": 2, "routine": 3}

JURISDICTIONS = {"local": N_("In the city (lead)"), "elsewhere": N_("Elsewhere (assist local police)")}

INDUSTRIES = {
    "construction": N_("Construction"),
    "manufacturing": N_("Manufacturing"),
    "shipbuilding": N_("Shipbuilding and marine engineering"),
    "trade": N_("Trade and logistics"),
    "textiles": N_("Textiles and garments"),
    "food": N_("Food and catering"),
    "chemicals": N_("Chemicals"),
    "electronics": N_("Electronics"),
    "services": N_("Services"),
    "other": N_("Other"),
}

RISK_LEVELS = {"low": N_("Low risk"), "medium": N_("Medium risk"), "high": N_("High risk")}

VISIT_KINDS = {"safety": N_("Safety visit"), "legal_education": N_("Legal-education session"), "follow_up": N_("Follow-up")}

HAZARD_SEVERITIES = {"low": N_("Minor"), "medium": N_("Moderate"), "high": N_("Serious")}

BULLETIN_KINDS = {"warning": N_("Warning"), "news": N_("News"), "legal": N_("Legal information")}
BULLETIN_SEVERITIES = {"info": N_("Information"), "notice": N_("Notice"), "serious": N_("Serious"), "critical": N_("Critical")}

NODE_KINDS = {"hub": N_("Center office"), "subcenter": N_("Sub-center"), "workstation": N_("Workstation")}
NODE_STATUSES = {"active": N_("Active"), "suspended": N_("Suspended"), "retired": N_("Retired")}
APPLICATION_STATUSES = {"submitted": N_("Submitted"), "approved": N_("Approved"), "rejected": N_("Rejected"), "returned": N_("Returned for changes")}

ROLES = {"office": N_("Center office"), "liaison": N_("Liaison officer"), "subcenter": N_("Sub-center"), "enterprise": N_("Enterprise workstation")}
