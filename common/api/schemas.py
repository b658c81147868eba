"""Request bodies of the JSON API as msgspec Structs; UNSET marks a field a partial update leaves alone."""
from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, UnsetType


class Body(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    def to_dict(self) -> dict[str, Any]:
        # Nested Structs (hazards, targets) become plain dicts and lists for the services.
        return msgspec.to_builtins({k: v for k, v in msgspec.structs.asdict(self).items() if v is not UNSET})


class EnterpriseCreate(Body):
    name: str
    credit_code: str
    region_code: str
    address: str = ""
    industry: str = "other"
    node: str | UnsetType = UNSET
    is_key: bool = False
    parent_company: str = ""
    risk_level: str = "low"
    contact_name: str = ""
    contact_phone: str = ""
    notes: str = ""


class EnterpriseUpdate(Body):
    name: str | UnsetType = UNSET
    credit_code: str | UnsetType = UNSET
    region_code: str | UnsetType = UNSET
    address: str | UnsetType = UNSET
    industry: str | UnsetType = UNSET
    node: str | UnsetType = UNSET
    is_key: bool | UnsetType = UNSET
    parent_company: str | UnsetType = UNSET
    risk_level: str | UnsetType = UNSET
    contact_name: str | UnsetType = UNSET
    contact_phone: str | UnsetType = UNSET
    notes: str | UnsetType = UNSET


class PersonCreate(Body):
    enterprise_id: str
    name: str
    id_number: str = ""
    phone: str = ""
    position: str = ""


class PersonUpdate(Body):
    name: str | UnsetType = UNSET
    id_number: str | UnsetType = UNSET
    phone: str | UnsetType = UNSET
    position: str | UnsetType = UNSET


class CaseCreate(Body):
    channel: str
    category: str
    title: str
    urgency: str = "routine"
    enterprise_id: str | None = None
    description: str = ""
    jurisdiction: str = "local"
    details: dict[str, Any] = {}


class CaseUpdate(Body):
    category: str | UnsetType = UNSET
    urgency: str | UnsetType = UNSET
    title: str | UnsetType = UNSET
    description: str | UnsetType = UNSET
    jurisdiction: str | UnsetType = UNSET
    details: dict[str, Any] | UnsetType = UNSET


class CaseEventCreate(Body):
    kind: str
    unit: str | None = None
    note: str | None = None
    satisfaction: int | None = None


class Hazard(msgspec.Struct):
    description: str
    severity: str = "medium"


class VisitCreate(Body):
    enterprise_id: str
    visited_at: str
    kind: str = "safety"
    findings: str = ""
    hazards: list[Hazard] = []
    guidance: str = ""
    visitors: str = ""
    checklist: dict[str, Any] = {}
    topic: str = ""
    attendance: int | None = None
    latitude: float | None = None
    longitude: float | None = None


class VisitUpdate(Body):
    visited_at: str | UnsetType = UNSET
    kind: str | UnsetType = UNSET
    findings: str | UnsetType = UNSET
    hazards: list[Hazard] | UnsetType = UNSET
    guidance: str | UnsetType = UNSET
    visitors: str | UnsetType = UNSET
    checklist: dict[str, Any] | UnsetType = UNSET
    topic: str | UnsetType = UNSET
    attendance: int | None | UnsetType = UNSET


class Targets(msgspec.Struct, omit_defaults=True):
    all: bool = False
    regions: list[str] = []
    industries: list[str] = []
    nodes: list[str] = []


class BulletinCreate(Body):
    kind: str
    title: str
    body: str
    severity: str = "info"
    targets: Targets = msgspec.field(default_factory=lambda: Targets(all=True))
    publish: bool = True


class BulletinUpdate(Body):
    kind: str | UnsetType = UNSET
    title: str | UnsetType = UNSET
    body: str | UnsetType = UNSET
    severity: str | UnsetType = UNSET
    targets: Targets | UnsetType = UNSET
    publish: bool | UnsetType = UNSET


class BulletinRemind(Body):
    """Which target nodes to remind; none named: every one that has not acknowledged."""

    nodes: list[str] = []


class ApplicationCreate(Body):
    """A new sub-center or workstation (all fields), or a request about `target_node` (head_change: the new head)."""

    kind: str
    name: str = ""
    region_code: str = ""
    parent_node: str = ""
    head_name: str = ""
    head_phone: str = ""
    reason: str = ""
    background: str = ""
    host_enterprise_id: str | None = None
    target_node: str | None = None


class ApplicationUpdate(Body):
    name: str | UnsetType = UNSET
    region_code: str | UnsetType = UNSET
    parent_node: str | UnsetType = UNSET
    head_name: str | UnsetType = UNSET
    head_phone: str | UnsetType = UNSET
    reason: str | UnsetType = UNSET
    background: str | UnsetType = UNSET
    host_enterprise_id: str | None | UnsetType = UNSET


class Decision(Body):
    decision: str
    comment: str = ""


class NodeUpdate(Body):
    name: str | UnsetType = UNSET
    status: str | UnsetType = UNSET
    region_code: str | UnsetType = UNSET

