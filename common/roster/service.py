"""The roster: enterprises and their people, validated, scoped and audited."""
from __future__ import annotations

import re
import uuid
from functools import lru_cache
from datetime import date, datetime
from zoneinfo import ZoneInfo
from typing import Any

from sqlalchemy import Select, String, Uuid, and_, column, literal_column, or_, select, table, text
from sqlalchemy.orm import Session

from common import policy
from common.errors import InvalidField
from common.i18n import N_
from common.models import Attachment, Case, CaseEvent, Enterprise, InfoReport, Node, Person, Visit
from common.policy import Principal
from common.reference import INDUSTRIES, RISK_LEVELS
from common.service import Problems, apply_changes, audit_write, choice, delete_row, enforce_rules, optional_text, required_text, update_row, visible_enterprise
from common.validation import (
    mask_id_number, mask_phone, validate_credit_code, validate_id_number, validate_mobile, validate_region_code,
)


NAME_PINYIN_SIZE = 600  # Enterprise.name_pinyin's width


def name_pinyin(name: str) -> str:
    """The name's full pinyin, then its initials, lower case: "qidongjiangong… qdjg…".

    A substring search then finds the name by the full pinyin or the initials of any run of its characters: 建工
    by "jiangong" or "jg", 启东建工 by "qidongjiangong" or "qdjg", the whole name by all its initials. Readings come
    from pypinyin's phrase dictionary (重庆 chongqing, 银行 yinhang); letters and digits are kept, punctuation
    (brackets, dots) dropped so it does not split a run. A very long name keeps every initial and loses the tail
    of its full pinyin to fit the column.
    """
    # pypinyin is imported where it is used: its phrase dictionary takes a quarter of a second to load, paid by
    # every process that imports this module otherwise (each `lianfu` command and server), most never reading it.
    from pypinyin.seg.simpleseg import seg

    full: list[str] = []
    initials: list[str] = []
    # pypinyin reads a name word by word, each word on its own (what lazy_pinyin does): the words of company names
    # repeat (有限公司, 集团, 上海), so each word's reading is worked out once. An import of thousands of names
    # otherwise spends most of its time here.
    for word in seg(name):
        word_full, word_initials = _word_pinyin(word)
        full.append(word_full)
        initials.append(word_initials)
    whole, first = "".join(full), "".join(initials)
    whole = whole[:max(0, NAME_PINYIN_SIZE - len(first) - 1)]
    return f"{whole} {first}"[:NAME_PINYIN_SIZE]


@lru_cache(maxsize=65536)
def _word_pinyin(word: str) -> tuple[str, str]:
    """One word's full pinyin and initials, letters and digits only."""
    from pypinyin import Style, lazy_pinyin

    return ("".join(_letters(lazy_pinyin(word))),
            "".join(_letters(lazy_pinyin(word, style=Style.FIRST_LETTER))))


def _letters(chunks: list[str]) -> list[str]:
    return [re.sub(r"[^0-9a-z]", "", chunk.lower()) for chunk in chunks]


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in {"1", "true", "on", "yes"}
    return bool(value)


def clean_enterprise(session: Session, data: dict[str, Any], partial: bool) -> dict[str, Any]:
    """Validate an enterprise's fields (all of them, or those present when `partial`); refuse them all at once."""
    problems = Problems()
    out: dict[str, Any] = {}
    present = (lambda f: f in data) if partial else (lambda f: True)  # noqa: E731
    if present("name"):
        out["name"] = required_text(problems, data, "name", 200)
    if present("credit_code"):
        out["credit_code"] = problems.check(validate_credit_code, data.get("credit_code") or "", "credit_code")
    if present("region_code"):
        out["region_code"] = problems.check(validate_region_code, data.get("region_code") or "", "region_code")
    if present("node"):
        node_id = data.get("node")
        if not node_id or session.get(Node, node_id) is None:
            problems.add("node", N_("No such node"))
        out["node_id"] = node_id
    for field, size in (("address", 300), ("parent_company", 200), ("contact_name", 100), ("notes", 4000)):
        if field in data:
            out[field] = optional_text(problems, data, field, size) or ""
    if "contact_phone" in data and data["contact_phone"]:
        out["contact_phone"] = problems.check(validate_mobile, data["contact_phone"], "contact_phone")
    if present("industry"):
        out["industry"] = choice(problems, data, "industry", INDUSTRIES, required=not partial) or "other"
    if "risk_level" in data:
        out["risk_level"] = choice(problems, data, "risk_level", RISK_LEVELS) or "low"
    if "is_key" in data or not partial:
        out["is_key"] = _bool(data.get("is_key", False))
    problems.raise_if_any()
    if "name" in out:
        out["name_pinyin"] = name_pinyin(out["name"])
    return out


def _refuse_duplicate_code(session: Session, code: str, own_id: uuid.UUID | None = None) -> None:
    # Checked against every live row, not only the caller's scope: a credit code is unique in the city.
    clash = session.scalar(select(Enterprise.id).where(Enterprise.credit_code == code, Enterprise.deleted_at.is_(None)))
    if clash is not None and clash != own_id:
        raise InvalidField("credit_code", N_("An enterprise with this credit code is already on the roster"))


def create_enterprise(session: Session, p: Principal, data: dict[str, Any]) -> Enterprise:
    payload = dict(data)
    if not payload.get("node"):
        payload["node"] = p.node_id
    values = clean_enterprise(session, payload, partial=False)
    policy.require_write(p, "enterprise", "create", values["node_id"])
    enforce_rules("enterprise", p, None, values)
    _refuse_duplicate_code(session, values["credit_code"])
    enterprise = Enterprise(**values)
    session.add(enterprise)
    session.flush()
    audit_write(session, p, "create", "enterprise", enterprise.id, {"name": enterprise.name, "node": enterprise.node_id})
    return enterprise


def update_enterprise(session: Session, p: Principal, enterprise_id: uuid.UUID, data: dict[str, Any]) -> Enterprise:
    enterprise = policy.get_visible(session, Enterprise, enterprise_id, p)
    policy.require_write(p, "enterprise", "update", enterprise.node_id)
    if data.get("contact_phone") and data["contact_phone"] == mask_phone(enterprise.contact_phone):
        data = {k: v for k, v in data.items() if k != "contact_phone"}  # the masked form came back unchanged: keep it
    values = clean_enterprise(session, data, partial=True)
    enforce_rules("enterprise", p, enterprise, values)
    if "node_id" in values:
        # Moving an enterprise to another node is the office's decision or a move inside one's own subtree.
        policy.require_write(p, "enterprise", "update", values["node_id"])
    if "credit_code" in values:
        _refuse_duplicate_code(session, values["credit_code"], enterprise.id)
    changed = apply_changes(enterprise, values)
    if changed:
        if "node_id" in changed:
            move_file(session, enterprise)
        session.flush()
        audit_write(session, p, "update", "enterprise", enterprise.id, {"changed": changed})
    return enterprise


def move_file(session: Session, enterprise: Enterprise) -> None:
    """The enterprise's whole file to the enterprise's node: people, visits, cases and their events, and the files
    attached to them. Row by row, so each move is captured for sync like any other change (the old spoke drops
    them, the new one gets them)."""
    owners: dict[str, list[uuid.UUID]] = {"enterprise": [enterprise.id], "visit": [], "case": [], "case_event": []}
    for model, kind in ((Person, None), (Visit, "visit"), (Case, "case"), (InfoReport, None)):
        for row in session.scalars(select(model).where(model.enterprise_id == enterprise.id)):
            row.node_id = enterprise.node_id
            if kind is not None:
                owners[kind].append(row.id)
    for event in session.scalars(select(CaseEvent).join(Case, Case.id == CaseEvent.case_id)
                                 .where(Case.enterprise_id == enterprise.id)):
        event.node_id = enterprise.node_id
        owners["case_event"].append(event.id)
    # Files attached to any of them go too (the new node's people open them; the old node no longer holds them).
    for attachment in session.scalars(select(Attachment).where(or_(*(
            and_(Attachment.entity_type == kind, Attachment.entity_id.in_(ids))
            for kind, ids in owners.items() if ids)))):
        attachment.node_id = enterprise.node_id


def delete_enterprise(session: Session, p: Principal, enterprise_id: uuid.UUID) -> None:
    delete_row(session, p, Enterprise, "enterprise", enterprise_id)


def enterprise_out(e: Enterprise, p: Principal) -> dict[str, Any]:
    return {
        "id": str(e.id), "name": e.name, "credit_code": e.credit_code, "region_code": e.region_code,
        "address": e.address, "industry": e.industry, "node": e.node_id, "is_key": e.is_key,
        "parent_company": e.parent_company, "risk_level": e.risk_level, "contact_name": e.contact_name,
        "contact_phone": e.contact_phone if policy.reveals(p, "phone") else mask_phone(e.contact_phone),
        "notes": e.notes, "created_at": e.created_at.isoformat(), "updated_at": e.updated_at.isoformat(),
        "version": e.version,
    }


# --- people ----------------------------------------------------------------------------------------------------

def clean_person(data: dict[str, Any], partial: bool, current: Person | None, p: Principal) -> dict[str, Any]:
    problems = Problems()
    out: dict[str, Any] = {}
    present = (lambda f: f in data) if partial else (lambda f: True)  # noqa: E731
    if present("name"):
        out["name"] = required_text(problems, data, "name", 100)
    for field, validator, masker in (("id_number", validate_id_number, mask_id_number), ("phone", validate_mobile, mask_phone)):
        if field not in data:
            continue
        value = (data.get(field) or "").strip()
        if current is not None and value and value == masker(getattr(current, field)):
            continue  # the masked form came back unchanged from a form: keep what is stored
        out[field] = problems.check(validator, value, field) if value else ""
    if "position" in data:
        out["position"] = optional_text(problems, data, "position", 100) or ""
    if "left_on" in data:
        out["left_on"] = problems.check(left_day, data.get("left_on"), "left_on")
    problems.raise_if_any()
    return out


def today() -> date:
    """Today in Beijing, the day the center's people live by."""
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


def left_day(value: Any, field: str = "left_on") -> date | None:
    """The day a person left (YYYY-MM-DD), or None (still there): not in the future, not before 1949."""
    if value in (None, ""):
        return None
    try:
        day = value if isinstance(value, date) else date.fromisoformat(str(value).strip())
    except ValueError:
        raise InvalidField(field, N_("A date such as 2026-11-30 is expected")) from None
    if day > today() or day.year < 1949:
        raise InvalidField(field, N_("The day someone left cannot be in the future"))
    return day


def create_person(session: Session, p: Principal, data: dict[str, Any]) -> Person:
    problems = Problems()
    enterprise = visible_enterprise(session, p, problems, data)
    values = problems.check(clean_person, data, False, None, p) or {}
    problems.raise_if_any()
    policy.require_write(p, "person", "create", enterprise.node_id)
    person = Person(enterprise_id=enterprise.id, node_id=enterprise.node_id, **values)
    session.add(person)
    session.flush()
    audit_write(session, p, "create", "person", person.id, {"enterprise_id": str(enterprise.id)})
    return person


def update_person(session: Session, p: Principal, person_id: uuid.UUID, data: dict[str, Any]) -> Person:
    return update_row(session, p, Person, "person", person_id,
                      lambda person: clean_person(data, partial=True, current=person, p=p))


def delete_person(session: Session, p: Principal, person_id: uuid.UUID) -> None:
    delete_row(session, p, Person, "person", person_id)


def person_out(person: Person, p: Principal) -> dict[str, Any]:
    return {
        "id": str(person.id), "enterprise_id": str(person.enterprise_id), "name": person.name,
        "id_number": person.id_number if policy.reveals(p, "id_number") else mask_id_number(person.id_number),
        "phone": person.phone if policy.reveals(p, "phone") else mask_phone(person.phone),
        "position": person.position, "node": person.node_id, "version": person.version,
        "left_on": person.left_on.isoformat() if person.left_on else None,
        "created_at": person.created_at.isoformat(), "updated_at": person.updated_at.isoformat(),
    }


def people_query(p: Principal, dialect: str, q: str | None = None, enterprise_id: uuid.UUID | None = None) -> Select[Any]:
    """The people of the enterprises `p` may see, searched by name (and, for those who see ID numbers, by one whole
    number: a yes or no the police roles may have); the API and the export both use it.

    On PostgreSQL a name of three characters or more is looked up in the trigram index of person_search (revision
    0027), the number in person's own index: one set of ids, so neither is a scan of every person.
    """
    stmt = policy.scoped(Person, p)
    if enterprise_id:
        stmt = stmt.where(Person.enterprise_id == enterprise_id)
    term = (q or "").strip()
    # Searched exactly, never by fragment: partial matches would leak digits. Only by those who may see the
    # numbers: for anyone else a yes or no to a guessed number would give the number away.
    by_number = policy.may_reveal(p)
    if term and dialect == "postgresql" and len(term) >= 3:
        named = select(PERSON_SEARCH.c.id).where(PERSON_SEARCH.c.name.contains(term, autoescape=True))
        if by_number:
            named = named.union_all(select(Person.id).where(Person.id_number == term.upper()))
        stmt = stmt.where(Person.id.in_(named))
    elif term:
        matches = Person.name.contains(term, autoescape=True)
        if by_number:
            matches = matches | (Person.id_number == term.upper())
        stmt = stmt.where(matches)
    return stmt.order_by(Person.id.desc())


CREDIT_CODE_PREFIX = re.compile(r"[0-9A-Za-z]{2,18}")


# PostgreSQL: the trigram indexes are on enterprise_search, kept beside the roster by triggers (revision 0013).
SEARCH = table("enterprise_search", column("id", Uuid()), column("name", String()), column("name_pinyin", String()))
# And of people's names, on person_search (revision 0027).
PERSON_SEARCH = table("person_search", column("id", Uuid()), column("name", String()))


def _names_contain(columns: Any, term: str) -> Any:
    return or_(columns.name.contains(term, autoescape=True), columns.name_pinyin.contains(term.lower(), autoescape=True))


def enterprise_query(p: Principal, dialect: str, q: str | None = None, node: str | None = None,
                     industry: str | None = None, region_code: str | None = None, is_key: bool | None = None,
                     risk_level: str | None = None) -> Select[Any]:
    """The roster as `p` may see it, searched and filtered; the API and the pages both use it.

    The search picks the cheapest path for the term: a credit-code prefix walks the code's index in code
    order; three characters or more use the trigram index (FTS5 on SQLite, pg_trgm on enterprise_search on
    PostgreSQL);
    two characters use the trigrams they begin (SQLite) or scan newest-first, as one character does.
    """
    stmt = policy.scoped(Enterprise, p)
    order: list[Any] = [Enterprise.id.desc()]
    term = (q or "").strip()
    if term and CREDIT_CODE_PREFIX.fullmatch(term) and any(c.isdigit() for c in term):
        code = term.upper()
        stmt = stmt.where(Enterprise.credit_code >= code, Enterprise.credit_code < code + "~")
        order = [Enterprise.credit_code]
    elif term and dialect == "sqlite" and len(term) >= 2:
        fts = table("enterprise_fts", column("rowid"))
        if len(term) >= 3:
            match = text("enterprise_fts MATCH :phrase").bindparams(phrase='"' + term.replace('"', '""') + '"')
        else:
            # Two characters: match any indexed trigram that starts with them (values end with a space, so
            # every occurrence starts one); the vocabulary is ordered by term, so the prefix is a range.
            match = text(
                "enterprise_fts MATCH coalesce((SELECT group_concat('\"' || replace(term, '\"', '\"\"') || '\"', ' OR ') "
                "FROM enterprise_fts_vocab WHERE term >= :pair AND term < :pair || char(1114111)), '\"' || replace(:pair, '\"', '\"\"') || '\"')"
            ).bindparams(pair=term.lower())
        stmt = stmt.join(fts, fts.c.rowid == literal_column("enterprise.rowid")).where(match)
        order = [fts.c.rowid.desc()]
    elif term and dialect == "postgresql" and len(term) >= 3:
        stmt = stmt.where(Enterprise.id.in_(select(SEARCH.c.id).where(_names_contain(SEARCH.c, term))))
    elif term:
        stmt = stmt.where(_names_contain(Enterprise, term))
    if node:
        stmt = stmt.where(Enterprise.node_id == node)
    if industry:
        stmt = stmt.where(Enterprise.industry == industry)
    if region_code:
        stmt = stmt.where(Enterprise.region_code.startswith(region_code.rstrip("0") or region_code, autoescape=True))
    if is_key is not None:
        stmt = stmt.where(Enterprise.is_key.is_(is_key))
    if risk_level:
        stmt = stmt.where(Enterprise.risk_level == risk_level)
    return stmt.order_by(*order)
