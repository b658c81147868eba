"""The roster as workbooks: /enterprises.xlsx and /people.xlsx, with the list's filters and scope, all rows.

The enterprise workbook's columns are the enterprise's fields (CONTRACT.md), so an exported workbook, edited, reads
back into the roster (`ENTERPRISE_FIELDS` and `common.web.xlsx.fields_of`).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Iterator
from uuid import UUID

from litestar import Request, get
from litestar.params import FromQuery
from litestar.response import Stream
from sqlalchemy import select

from common.i18n import N_
from common.models import Enterprise, Node, Person
from common.policy import Principal
from common.reference import INDUSTRIES, RISK_LEVELS
from common.regions import region_name
from common.roster import service as roster
from common.roster.api import people_search_allowed
from common.validation import mask_id_number, mask_phone
from common.web.auth import require_principal
from common.web.xlsx import CHUNK, EXPORT_OPT, YES_NO, Column, coded, send_export

# Roles that do not see what only the police decide about an enterprise: those columns are left out (and so are
# the filters on them, whose yes or no would tell the same).
WITHOUT_POLICE_COLUMNS = frozenset({"enterprise"})
POLICE_COLUMNS = ("risk_level", "is_key")


def _full_never(mask: Any, value: str) -> str:
    # A workbook is copied and passed around: beyond what the page masks for the role, its ID numbers and phones are
    # masked for everyone (a full number is seen one person at a time, through the audited reveal).
    return mask(value) if value else ""


# What the enterprise workbook reads of each row: plain columns, not loaded entities (a roster of 100,000 rows builds
# no objects it would throw away at once).
ENTERPRISE_ROW = (Enterprise.name, Enterprise.credit_code, Enterprise.region_code, Enterprise.address,
                  Enterprise.industry, Enterprise.is_key, Enterprise.parent_company, Enterprise.node_id,
                  Enterprise.contact_name, Enterprise.contact_phone, Enterprise.risk_level)


def enterprise_columns(p: Principal, nodes: dict[str, str]) -> list[Column]:
    """The enterprise workbook's columns for `p`, over rows of `ENTERPRISE_ROW`."""
    columns = [
        Column("name", N_("Enterprise name"), lambda r: r.name, 36),
        Column("credit_code", N_("Unified social credit code"), lambda r: r.credit_code, 22),
        Column("region_code", N_("Region code"), lambda r: r.region_code, 10),
        Column("region", N_("Region"), lambda r: _region(r.region_code), 24),
        Column("address", N_("Address"), lambda r: r.address, 36),
        coded("industry", N_("Industry"), INDUSTRIES, lambda r: r.industry, 18),
        coded("is_key", N_("Key enterprise"), YES_NO, lambda r: r.is_key, 10),
        Column("parent_company", N_("Parent company"), lambda r: r.parent_company, 28),
        Column("node", N_("Node"), lambda r: nodes.get(r.node_id, r.node_id), 20),
        Column("contact_name", N_("Contact person"), lambda r: r.contact_name, 12),
        Column("contact_phone", N_("Contact phone"), lambda r: _full_never(mask_phone, r.contact_phone), 14),
        coded("risk_level", N_("Risk level"), RISK_LEVELS, lambda r: r.risk_level, 10),
    ]
    if p.role in WITHOUT_POLICE_COLUMNS:
        columns = [c for c in columns if c.field not in POLICE_COLUMNS]
    return columns


@lru_cache(maxsize=4096)
def _region(code: str) -> str:
    # A roster names a few hundred regions, each thousands of times.
    return region_name(code) or ""


# Every column an enterprise workbook may hold, for a reader of one (the police's own columns included).
ENTERPRISE_FIELDS = [c.field for c in enterprise_columns(Principal(None, "", "office", "hub"), {})]

# What the people workbook reads of each person, beside the enterprise's name and credit code.
PERSON_ROW = (Person.name, Person.id_number, Person.phone, Person.position, Enterprise.name.label("enterprise"),
              Enterprise.credit_code)


def person_columns() -> list[Column]:
    """The people workbook's columns, over rows of `PERSON_ROW`."""
    return [
        Column("enterprise", N_("Enterprise name"), lambda r: r.enterprise, 36),
        Column("credit_code", N_("Unified social credit code"), lambda r: r.credit_code, 22),
        Column("name", N_("Name"), lambda r: r.name, 12),
        Column("id_number", N_("ID number"), lambda r: _full_never(mask_id_number, r.id_number), 22),
        Column("phone", N_("Phone"), lambda r: _full_never(mask_phone, r.phone), 14),
        Column("position", N_("Position"), lambda r: r.position, 16),
    ]


def _flag(value: str | None) -> bool | None:
    return {"1": True, "0": False, "true": True, "false": False}.get((value or "").lower())


def _node_names(session: Any) -> dict[str, str]:
    return dict(session.execute(select(Node.id, Node.name)).all())


@get("/enterprises.xlsx", include_in_schema=False, sync_to_thread=True, opt=EXPORT_OPT)
def enterprises_workbook(request: Request, q: FromQuery[str | None] = None, industry: FromQuery[str | None] = None,
                         risk_level: FromQuery[str | None] = None, is_key: FromQuery[str | None] = None,
                         node: FromQuery[str | None] = None, region_code: FromQuery[str | None] = None) -> Stream:
    p = require_principal(request)
    db = request.app.state.db
    if p.role in WITHOUT_POLICE_COLUMNS:
        risk_level = is_key = None
    filters = {"q": q, "industry": industry, "risk_level": risk_level, "is_key": is_key, "node": node,
               "region_code": region_code}
    with db.reads() as session:
        nodes = _node_names(session)

    def rows() -> Iterator[Any]:
        stmt = roster.enterprise_query(p, db.dialect, q, node or None, industry or None, region_code or None,
                                       _flag(is_key), risk_level or None)
        with db.reads() as session:
            yield from session.execute(stmt.with_only_columns(*ENTERPRISE_ROW).execution_options(yield_per=CHUNK))

    return send_export(request, p, "enterprise", N_("Enterprise register"), "enterprises", enterprise_columns(p, nodes),
                       rows(), filters)


@get("/people.xlsx", include_in_schema=False, sync_to_thread=True, opt=EXPORT_OPT)
def people_workbook(request: Request, q: FromQuery[str | None] = None,
                    enterprise_id: FromQuery[UUID | None] = None) -> Stream:
    p = require_principal(request)
    db = request.app.state.db
    if (q or "").strip():
        people_search_allowed(request, p)  # a search of people counts alike, for a page of them or a file

    def rows() -> Iterator[Any]:
        stmt = (roster.people_query(p, db.dialect, q, enterprise_id).join(Enterprise, Enterprise.id == Person.enterprise_id)
                .with_only_columns(*PERSON_ROW))
        with db.reads() as session:
            yield from session.execute(stmt.execution_options(yield_per=CHUNK))

    return send_export(request, p, "person", N_("People register"), "people", person_columns(), rows(),
                       {"q": q, "enterprise_id": str(enterprise_id) if enterprise_id else None})


ROSTER_EXPORT_HANDLERS = [enterprises_workbook, people_workbook]
