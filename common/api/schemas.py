"""Request bodies of the JSON API as msgspec Structs; UNSET marks a field a partial update leaves alone.

Every text and list is bounded here by the numbers of common/validation.py, which the services behind the pages and
the sync push use too: a body too large is refused whole (400, naming the field) before anything reads it further.
"""
from __future__ import annotations

from typing import Annotated, Any, Union

import msgspec
from msgspec import UNSET, Meta, UnsetType

from common import validation as v

Short = Annotated[str, Meta(max_length=v.MAX_SHORT)]
Name = Annotated[str, Meta(max_length=v.MAX_NAME)]
WebhookUrl = Annotated[str, Meta(max_length=500)]
PersonName = Annotated[str, Meta(max_length=v.MAX_PERSON_NAME)]
Address = Annotated[str, Meta(max_length=v.MAX_ADDRESS)]
Note = Annotated[str, Meta(max_length=v.MAX_NOTE)]
LongText = Annotated[str, Meta(max_length=v.MAX_LONG_TEXT)]
BodyText = Annotated[str, Meta(max_length=v.MAX_BODY)]
# A case's details: the category's fields, each a text, a number or a choice (common/cases/rules.py).
DetailValue = Union[Annotated[str, Meta(max_length=v.MAX_DETAIL_TEXT)], int, float, bool, None]
Details = Annotated[dict[Short, DetailValue], Meta(max_length=v.MAX_DETAILS)]
# A visit's answer to a checklist item: ok / issue / na (or a yes / no from older spokes).
Checklist = Annotated[dict[Short, Union[Annotated[str, Meta(max_length=v.MAX_CHECK_ANSWER)], bool]],
                      Meta(max_length=v.MAX_CHECKLIST_ANSWERS)]
TargetList = Annotated[list[Short], Meta(max_length=v.MAX_TARGETS)]
Attendance = Annotated[int, Meta(ge=0, le=v.MAX_ATTENDANCE)]
Latitude = Annotated[float, Meta(ge=-90, le=90)]
Longitude = Annotated[float, Meta(ge=-180, le=180)]
# Bounded to what its column holds; whether it is a score (1 to 5) is the case rules' to say (422, in their words).
Satisfaction = Annotated[int, Meta(ge=-32768, le=32767)]


class Body(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    def to_dict(self) -> dict[str, Any]:
        # Nested Structs (hazards, targets) become plain dicts and lists for the services.
        return msgspec.to_builtins({k: v for k, v in msgspec.structs.asdict(self).items() if v is not UNSET})


class EnterpriseCreate(Body):
    name: Name
    credit_code: Short
    region_code: Short
    address: Address = ""
    industry: Short = "other"
    node: Short | UnsetType = UNSET
    is_key: bool = False
    parent_company: Name = ""
    risk_level: Short = "low"
    contact_name: PersonName = ""
    contact_phone: Short = ""
    notes: Note = ""


class EnterpriseUpdate(Body):
    name: Name | UnsetType = UNSET
    credit_code: Short | UnsetType = UNSET
    region_code: Short | UnsetType = UNSET
    address: Address | UnsetType = UNSET
    industry: Short | UnsetType = UNSET
    node: Short | UnsetType = UNSET
    is_key: bool | UnsetType = UNSET
    parent_company: Name | UnsetType = UNSET
    risk_level: Short | UnsetType = UNSET
    contact_name: PersonName | UnsetType = UNSET
    contact_phone: Short | UnsetType = UNSET
    notes: Note | UnsetType = UNSET


class PersonCreate(Body):
    enterprise_id: Short
    name: PersonName
    id_number: Short = ""
    phone: Short = ""
    position: PersonName = ""
    left_on: Short | None = None


class PersonUpdate(Body):
    name: PersonName | UnsetType = UNSET
    id_number: Short | UnsetType = UNSET
    phone: Short | UnsetType = UNSET
    position: PersonName | UnsetType = UNSET
    # The day the person left the enterprise (YYYY-MM-DD); null: working there again.
    left_on: Short | None | UnsetType = UNSET


class RevealRequest(Body):
    reason: Note


class CaseCreate(Body):
    channel: Short
    category: Short
    title: Name
    urgency: Short = "routine"
    enterprise_id: Short | None = None
    description: BodyText = ""
    jurisdiction: Short = "local"
    details: Details = {}


class CaseUpdate(Body):
    category: Short | UnsetType = UNSET
    urgency: Short | UnsetType = UNSET
    title: Name | UnsetType = UNSET
    description: BodyText | UnsetType = UNSET
    jurisdiction: Short | UnsetType = UNSET
    details: Details | UnsetType = UNSET


class CaseEventCreate(Body):
    kind: Short
    unit: Short | None = None
    note: Note | None = None
    satisfaction: Satisfaction | None = None
    # extension_requested: the new date for the report back (YYYY-MM-DD, or an ISO time).
    until: Short | None = None


class Hazard(msgspec.Struct):
    description: Annotated[str, Meta(max_length=v.MAX_HAZARD_TEXT)]
    severity: Short = "medium"


Hazards = Annotated[list[Hazard], Meta(max_length=v.MAX_HAZARDS)]


class VisitCreate(Body):
    enterprise_id: Short
    visited_at: Short
    kind: Short = "safety"
    findings: LongText = ""
    hazards: Hazards = []
    guidance: LongText = ""
    visitors: Name = ""
    checklist: Checklist = {}
    topic: Name = ""
    attendance: Attendance | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None


class VisitUpdate(Body):
    visited_at: Short | UnsetType = UNSET
    kind: Short | UnsetType = UNSET
    findings: LongText | UnsetType = UNSET
    hazards: Hazards | UnsetType = UNSET
    guidance: LongText | UnsetType = UNSET
    visitors: Name | UnsetType = UNSET
    checklist: Checklist | UnsetType = UNSET
    topic: Name | UnsetType = UNSET
    attendance: Attendance | None | UnsetType = UNSET


class Targets(msgspec.Struct, omit_defaults=True):
    all: bool = False
    regions: TargetList = []
    industries: TargetList = []
    nodes: TargetList = []


class BulletinCreate(Body):
    kind: Short
    title: Name
    body: BodyText
    severity: Short = "info"
    targets: Targets = msgspec.field(default_factory=lambda: Targets(all=True))
    publish: bool = True


class BulletinUpdate(Body):
    kind: Short | UnsetType = UNSET
    title: Name | UnsetType = UNSET
    body: BodyText | UnsetType = UNSET
    severity: Short | UnsetType = UNSET
    targets: Targets | UnsetType = UNSET
    publish: bool | UnsetType = UNSET


class BulletinRemind(Body):
    """Which target nodes to remind; none named: every one that has not acknowledged."""

    nodes: TargetList = []


class ApplicationCreate(Body):
    """A new sub-center or workstation (all fields), or a request about `target_node` (head_change: the new head)."""

    kind: Short
    name: Name = ""
    region_code: Short = ""
    parent_node: Short = ""
    head_name: PersonName = ""
    head_phone: Short = ""
    reason: LongText = ""
    background: LongText = ""
    host_enterprise_id: Short | None = None
    target_node: Short | None = None


class ApplicationUpdate(Body):
    name: Name | UnsetType = UNSET
    region_code: Short | UnsetType = UNSET
    parent_node: Short | UnsetType = UNSET
    head_name: PersonName | UnsetType = UNSET
    head_phone: Short | UnsetType = UNSET
    reason: LongText | UnsetType = UNSET
    background: LongText | UnsetType = UNSET
    host_enterprise_id: Short | None | UnsetType = UNSET


class Decision(Body):
    decision: Short
    comment: Note = ""


class UnitCreate(Body):
    id: Short
    name: PersonName
    name_en: PersonName = ""
    active: bool = True
    sort_order: Annotated[int, Meta(ge=0, le=1_000_000)] | UnsetType = UNSET
    webhook_url: WebhookUrl | None | UnsetType = UNSET  # the unit's WeCom group robot; null or "" removes it


class UnitUpdate(Body):
    id: Short | UnsetType = UNSET  # accepted only as the unit's own: an id never changes
    name: PersonName | UnsetType = UNSET
    name_en: PersonName | UnsetType = UNSET
    active: bool | UnsetType = UNSET
    sort_order: Annotated[int, Meta(ge=0, le=1_000_000)] | UnsetType = UNSET
    webhook_url: WebhookUrl | None | UnsetType = UNSET  # the unit's WeCom group robot; null or "" removes it


class NodeUpdate(Body):
    name: Name | UnsetType = UNSET
    status: Short | UnsetType = UNSET
    region_code: Short | UnsetType = UNSET
    webhook_url: WebhookUrl | None | UnsetType = UNSET  # the node's WeCom group robot; null or "" removes it



class UserCreate(Body):
    username: Short
    name: PersonName
    role: Short
    node: Short | None = None
    unit: Short | None = None
    leader: bool = False
    phone: Short = ""
    email: Name = ""


class UserUpdate(Body):
    username: Short | UnsetType = UNSET
    name: PersonName | UnsetType = UNSET
    role: Short | UnsetType = UNSET
    node: Short | UnsetType = UNSET
    unit: Short | None | UnsetType = UNSET
    leader: bool | UnsetType = UNSET
    phone: Short | UnsetType = UNSET
    email: Name | UnsetType = UNSET
    active: bool | UnsetType = UNSET
    # A new one-time setup link; the old password, links, sessions and tokens stop working.
    reset: bool | UnsetType = UNSET
