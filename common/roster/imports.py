"""The roster from a workbook: enterprises and their people read from Excel, every row checked, then all written or
none.

A workbook holds an enterprise sheet and a people sheet, in the columns of `/enterprises.xlsx` and `/people.xlsx`
(so an exported workbook, edited, imports back) or of the template. Headers are read in either language; a sheet
is told by its columns, not its name. Enterprises are matched by credit code, people by ID number within their
enterprise; a matched row is updated with the cells that are filled in (an empty cell keeps what is stored), any
other row is added. The checks are the roster's own (`service.clean_enterprise`, `clean_person`, the role rules and
the writer's scope), so a row the form or the API would refuse is refused here too, with its sheet, row and column.

The write does not go row by row through the ORM: new rows go in one statement per table (COPY at PostgreSQL),
changed rows in one UPDATE per set of changed columns (sync/bulk.py), each stamped as change capture would stamp
it (`sync.capture`), so the rows sync like any other write. It is audited as one entry with its counts.
"""
from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from types import SimpleNamespace
from typing import Any

from python_calamine import CalamineError, CalamineWorkbook, SheetVisibleEnum
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from common import i18n, policy
from common.clock import clock
from common.errors import Forbidden, InvalidField
from common.i18n import N_
from common.models import Enterprise, Node, Person, SyncOutbox
from common.orm import new_id, utcnow
from common.policy import Principal
from common.roster import service as roster
from common.roster.exports import enterprise_columns, person_columns
from common.service import audit_write, enforce_rules
from common.validation import mask_id_number, mask_phone
from common.web.xlsx import Column, code_for, fields_of
from sync import bulk

# A workbook of this many bytes holds far more rows than any roster import; anything bigger is refused unread.
MAX_BYTES = 20 * 1024 * 1024
# What its parts may unpack to, and how many parts it may have: a small file that unpacks to gigabytes is refused.
MAX_UNPACKED = 400 * 1024 * 1024
MAX_PARTS = 2000
MAX_ROWS = 50_000
# How many rows between two progress reports.
STEP = 500
# The most problems an answer lists (the count says how many there were in all).
MAX_LISTED = 1000

ENTERPRISES = "enterprises"
PEOPLE = "people"
SHEET_TITLES = {ENTERPRISES: N_("Enterprises"), PEOPLE: N_("People"), "file": N_("The file")}

_OFFICE = Principal(None, "", "office", "hub")
# The enterprise sheet's columns: the export's (read back by field) and the notes, which the export leaves out.
ENTERPRISE_COLUMNS: list[Column] = [*enterprise_columns(_OFFICE, {}), Column("notes", N_("Notes"), lambda r: "", 30)]
# The people sheet's columns: the export's and the day someone left.
PERSON_COLUMNS: list[Column] = [*person_columns(), Column("left_on", N_("Left on"), lambda r: "", 12)]
# Columns a workbook may carry that are shown, never read: the region's name follows from its code.
SHOWN_ONLY = frozenset({"region", "enterprise"})
CHOICE_COLUMNS = {c.field: c for c in ENTERPRISE_COLUMNS if c.choices}
NOT_ALLOWED = "Not one of the allowed values"  # common.service.choice's refusal
REQUIRED = {ENTERPRISES: ("name", "credit_code", "region_code"), PEOPLE: ("credit_code", "name", "id_number")}
# Codes Excel keeps as numbers lose their last digits past 15: told apart from a typo.
LONG_CODES = frozenset({"credit_code", "id_number"})
ENTERPRISE_FIELDS = ("name", "credit_code", "region_code", "address", "industry", "parent_company", "node",
                     "contact_name", "contact_phone", "risk_level", "is_key", "notes")
PERSON_FIELDS = ("name", "id_number", "phone", "position", "left_on")


class ImportRefused(Exception):
    """The file cannot be read as a roster workbook at all (not a workbook, too large, no sheet we know)."""

    def __init__(self, message: str, **params: Any) -> None:
        self.message, self.params = message, params
        super().__init__(message)


@dataclass
class Problem:
    sheet: str
    row: int | None
    field: str | None
    message: str
    params: dict[str, Any] = field(default_factory=dict)

    def out(self) -> dict[str, Any]:
        return {"sheet": self.sheet, "row": self.row, "field": self.field,
                "message": i18n.gettext(self.message, **self.params)}


@dataclass
class Row:
    """One row of a sheet: its number as Excel shows it and its cells by field (text, or a date or bool)."""
    sheet: str
    line: int
    cells: dict[str, Any]


@dataclass
class Sheets:
    enterprises: list[Row]
    people: list[Row]
    problems: list[Problem]

    @property
    def total(self) -> int:
        return len(self.enterprises) + len(self.people)


@dataclass
class Plan:
    """What an import would do: its rows to add and to change, and every row's problems (nothing is done while
    there is one)."""
    new_enterprises: list[dict[str, Any]] = field(default_factory=list)
    changed_enterprises: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)  # (current, changes)
    new_people: list[dict[str, Any]] = field(default_factory=list)
    changed_people: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"enterprises_created": len(self.new_enterprises), "enterprises_updated": len(self.changed_enterprises),
                "people_created": len(self.new_people), "people_updated": len(self.changed_people),
                "unchanged": self.unchanged, "problems": len(self.problems)}

    def answer(self) -> dict[str, Any]:
        return {"ok": not self.problems, "counts": self.counts(),
                "problems": [p.out() for p in self.problems[:MAX_LISTED]]}


Progress = Callable[[str, int, int], None]


def _quiet(stage: str, done: int, total: int) -> None:
    """No one is watching (the API answers once it is done)."""


# --- reading the workbook -------------------------------------------------------------------------------------

def read_workbook(content: bytes) -> Sheets:
    """The enterprise and people rows of a workbook's visible sheets; ImportRefused when it is no workbook of ours."""
    if len(content) > MAX_BYTES:
        raise ImportRefused(N_("The file is larger than {size} MB: split it into smaller workbooks."),
                            size=MAX_BYTES // (1024 * 1024))
    _check_package(content)
    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(content))
        sheets = {}
        for meta in book.sheets_metadata:
            if meta.visible != SheetVisibleEnum.Visible:
                continue  # the export's hidden field list, or anything else kept out of sight
            sheets[meta.name] = book.get_sheet_by_name(meta.name).to_python(skip_empty_area=False)
    except (CalamineError, ValueError, OSError) as exc:
        raise ImportRefused(N_("The file could not be read as an Excel workbook (.xlsx): {error}"),
                            error=str(exc)[:200]) from None
    found: dict[str, list[Row]] = {}
    problems: list[Problem] = []
    for rows in sheets.values():
        kind, fields = _kind_of(rows)
        if kind is None or kind in found:
            continue
        found[kind] = _rows(kind, rows, fields, problems)
    if not found:
        raise ImportRefused(N_("No sheet of enterprises or of people was found: the first row of a sheet should hold "
                               "the template's column headers."))
    if sum(len(rows) for rows in found.values()) > MAX_ROWS:
        raise ImportRefused(N_("The workbook has more than {count} rows: split it into smaller workbooks."),
                            count=MAX_ROWS)
    return Sheets(found.get(ENTERPRISES, []), found.get(PEOPLE, []), problems)


def _check_package(content: bytes) -> None:
    """An .xlsx is a zip of XML parts: refuse anything else, and a zip whose parts unpack to more than we read."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as package:
            parts = package.infolist()
    except (zipfile.BadZipFile, ValueError):
        raise ImportRefused(N_("The file is not an Excel workbook (.xlsx). Save it from Excel or WPS as .xlsx and "
                               "try again.")) from None
    if len(parts) > MAX_PARTS or sum(part.file_size for part in parts) > MAX_UNPACKED:
        raise ImportRefused(N_("The workbook unpacks to far more than a roster holds; it was not read."))


def _header(value: Any) -> str:
    # "企业名称*" and "企业名称（必填）" are the template's own marks of a required column.
    text = str(value or "").strip()
    for mark in ("*", "＊", "（必填）", "(必填)", "(required)"):
        text = text.removesuffix(mark).strip()
    return text


def _kind_of(rows: list[list[Any]]) -> tuple[str | None, list[str | None]]:
    """Which sheet this is, by the fields its first row names: the people's sheet has ID numbers."""
    if not rows:
        return None, []
    headers = [_header(h) for h in rows[0]]
    people = fields_of(headers, PERSON_COLUMNS)
    if "id_number" in people and "name" in people:
        return PEOPLE, people
    enterprises = fields_of(headers, ENTERPRISE_COLUMNS)
    if "credit_code" in enterprises and "name" in enterprises:
        return ENTERPRISES, enterprises
    return None, []


def _rows(kind: str, rows: list[list[Any]], fields: list[str | None], problems: list[Problem]) -> list[Row]:
    columns = {c.field: c for c in (PERSON_COLUMNS if kind == PEOPLE else ENTERPRISE_COLUMNS)}
    missing = [name for name in REQUIRED[kind] if name not in fields]
    if missing:
        header = ", ".join(i18n.gettext(columns[name].header) for name in missing)
        raise ImportRefused(N_("The sheet of {sheet} has no column {columns}: use the template's headers."),
                            sheet=i18n.gettext(SHEET_TITLES[kind]), columns=header)
    out = []
    for line, values in enumerate(rows[1:], start=2):
        cells: dict[str, Any] = {}
        for name, value in zip(fields, values):
            if name is None or name in SHOWN_ONLY:
                continue
            if name in LONG_CODES and isinstance(value, float) and abs(value) >= 1e15:
                problems.append(Problem(kind, line, name, N_("Excel kept this as a number and lost its last digits: "
                                                             "format the column as text and type it again.")))
                cells[name] = ""
                continue
            cells[name] = _text(value, columns[name])
        if any(v not in ("", None) for v in cells.values()):
            out.append(Row(kind, line, cells))
    return out


def _text(value: Any, column: Column) -> Any:
    """A cell as the service takes it: text stripped, whole numbers without ".0", a coded label as its code."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return value
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, float):
        value = int(value) if value.is_integer() else value
    text = str(value).strip()
    if column.choices and text:
        coded = code_for(column, text)
        if coded == text and column.field == "risk_level":
            coded = code_for(column, text.removesuffix("风险") + "风险")  # "高" for 高风险, as people write it
        return coded
    return text


# --- checking it against the roster ---------------------------------------------------------------------------

def plan(session: Session, p: Principal, sheets: Sheets, progress: Progress = _quiet) -> Plan:
    """Check every row against the rules, the roster and `p`'s scope; what writing them would do."""
    result = Plan(problems=list(sheets.problems))
    checker = _Checker(session, p, result, progress, sheets.total)
    checker.enterprises(sheets.enterprises)
    checker.people(sheets.people)
    result.problems.sort(key=lambda x: (x.sheet != ENTERPRISES, x.row or 0))
    return result


ENTERPRISE_READ = ("id", "node_id", "name", "credit_code", "region_code", "address", "industry", "is_key",
                   "parent_company", "risk_level", "contact_name", "contact_phone", "notes", "field_versions", "version")
PERSON_READ = ("id", "enterprise_id", "node_id", "name", "id_number", "phone", "position", "left_on",
               "field_versions", "version")
CHUNK = 5000


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start:start + CHUNK]


class _Checker:
    def __init__(self, session: Session, p: Principal, result: Plan, progress: Progress, total: int) -> None:
        self.session, self.p, self.result, self.progress, self.total = session, p, result, progress, total
        self.done = 0
        # credit code -> the enterprise the people sheet's rows join: new (its values) or held (its row).
        self.by_code: dict[str, dict[str, Any]] = {}
        self.codes_with_problems: set[str] = set()
        # Held for the whole check: the rows' node checks (session.get) then find them in the session's identity map
        # instead of reading each one again.
        self.held_nodes = session.scalars(select(Node)).all()
        self.nodes = {node.id: node.name for node in self.held_nodes}
        self.node_ids = {name: node_id for node_id, name in self.nodes.items()} | {n: n for n in self.nodes}

    def problem(self, at: Row, field_name: str | None, message: str, **params: Any) -> None:
        self.result.problems.append(Problem(at.sheet, at.line, field_name, message, params))

    def refused(self, row: Row, exc: InvalidField | Forbidden) -> None:
        if isinstance(exc, InvalidField):
            for each in exc.problems:
                column = CHOICE_COLUMNS.get(each.field or "")
                if column is not None and each.message == NOT_ALLOWED:
                    # A workbook's cell holds a label: say which ones are understood.
                    labels = "、".join(i18n.gettext(label) for label in (column.choices or {}).values())
                    self.problem(row, each.field, N_("Not one of: {choices}."), choices=labels)
                    continue
                self.problem(row, each.field, each.message, **each.params)
        else:
            self.problem(row, exc.params.get("field"), exc.message)

    def tick(self) -> None:
        self.done += 1
        if self.done % STEP == 0:
            self.progress("checking", self.done, self.total)

    # --- enterprises ---

    def enterprises(self, rows: list[Row]) -> None:
        codes = sorted({str(r.cells.get("credit_code") or "").upper() for r in rows} - {""})
        held = self._held_enterprises(codes)
        first: dict[str, int] = {}
        for row in rows:
            self.tick()
            data = {k: v for k, v in row.cells.items() if k in ENTERPRISE_FIELDS and v not in ("", None)}
            code = str(data.get("credit_code") or "").upper()
            if code:
                data["credit_code"] = code
                if code in first:
                    self.problem(row, "credit_code", N_("The same credit code as row {row}."), row=first[code])
                    continue
                first[code] = row.line
            if "node" in data:
                node_id = self.node_ids.get(str(data["node"]))
                if node_id is None:
                    self.problem(row, "node", N_("No node of this name."))
                    continue
                data["node"] = node_id
            current = held.get(code)
            before = len(self.result.problems)
            if current is None:
                self._new_enterprise(row, data)
            else:
                self._changed_enterprise(row, data, current)
            if len(self.result.problems) > before and code:
                self.codes_with_problems.add(code)

    def _held_enterprises(self, codes: list[str]) -> dict[str, dict[str, Any]]:
        table = Enterprise.__table__
        held = {}
        for part in _chunks(codes):
            stmt = select(*(table.c[n] for n in ENTERPRISE_READ)).where(
                table.c.credit_code.in_(part), table.c.deleted_at.is_(None))
            for values in self.session.execute(stmt).tuples():
                row = dict(zip(ENTERPRISE_READ, values))
                held[row["credit_code"]] = row
        return held

    def _new_enterprise(self, row: Row, data: dict[str, Any]) -> None:
        data.setdefault("node", self.p.node_id)
        data.setdefault("industry", "other")
        try:
            values = roster.clean_enterprise(self.session, data, partial=False)
            policy.require_write(self.p, "enterprise", "create", values["node_id"])
            enforce_rules("enterprise", self.p, None, values)
        except (InvalidField, Forbidden) as exc:
            self.refused(row, exc)
            return
        values["id"] = new_id()
        self.result.new_enterprises.append(values)
        self.by_code[values["credit_code"]] = {"id": values["id"], "node_id": values["node_id"], "name": values["name"],
                                               "new": True}

    def _changed_enterprise(self, row: Row, data: dict[str, Any], current: dict[str, Any]) -> None:
        if not self.p.is_office and current["node_id"] not in self.p.subtree:
            self.problem(row, "credit_code", N_("An enterprise with this credit code is on the roster of a node "
                                                "outside your scope: it cannot be changed from here."))
            return
        if data.get("contact_phone") and data["contact_phone"] == mask_phone(current["contact_phone"]):
            del data["contact_phone"]  # the masked number came back as exported: keep the stored one
        if "node" in data and data["node"] != current["node_id"]:
            self.problem(row, "node", N_("An import does not move an enterprise to another node: change it on the "
                                         "enterprise's page."))
            return
        data.pop("node", None)
        try:
            values = roster.clean_enterprise(self.session, data, partial=True)
            policy.require_write(self.p, "enterprise", "update", current["node_id"])
            enforce_rules("enterprise", self.p, SimpleNamespace(**current), values)
        except (InvalidField, Forbidden) as exc:
            self.refused(row, exc)
            return
        changes = {k: v for k, v in values.items() if k != "name_pinyin" and current.get(k) != v}
        if "name" in changes:
            changes["name_pinyin"] = values["name_pinyin"]
        self.by_code[current["credit_code"]] = {**current, "new": False}
        if changes:
            self.result.changed_enterprises.append((current, changes))
        else:
            self.result.unchanged += 1

    # --- people ---

    def people(self, rows: list[Row]) -> None:
        codes = sorted({str(r.cells.get("credit_code") or "").upper() for r in rows} - {""} - set(self.by_code)
                       - self.codes_with_problems)
        for code, current in self._held_enterprises(codes).items():
            self.by_code[code] = {**current, "new": False}
        enterprise_ids = [e["id"] for e in self.by_code.values() if not e["new"]]
        held = self._held_people(enterprise_ids)
        by_number: dict[tuple[Any, str], dict[str, Any]] = {}
        by_mask: dict[tuple[Any, str], list[dict[str, Any]]] = {}
        for person in held:
            by_number[(person["enterprise_id"], person["id_number"])] = person
            by_mask.setdefault((person["enterprise_id"], mask_id_number(person["id_number"])), []).append(person)
        numbers = sorted({str(r.cells.get("id_number") or "").upper() for r in rows if "*" not in str(r.cells.get("id_number") or "")} - {""})
        elsewhere = self._working_elsewhere(numbers)
        first: dict[tuple[str, str], int] = {}
        for row in rows:
            self.tick()
            code = str(row.cells.get("credit_code") or "").upper()
            number = str(row.cells.get("id_number") or "").upper()
            data = {k: v for k, v in row.cells.items() if k in PERSON_FIELDS and v not in ("", None)}
            if number:
                data["id_number"] = number
            enterprise = self.by_code.get(code)
            if enterprise is None:
                if code in self.codes_with_problems:
                    self.problem(row, "credit_code", N_("Its enterprise's row has problems: correct that row first."))
                elif code:
                    self.problem(row, "credit_code", N_("No enterprise with this credit code in the workbook or on "
                                                        "the roster within your scope."))
                else:
                    self.problem(row, "credit_code", N_("This field is required"))
                continue
            if not number:
                self.problem(row, "id_number", N_("People are matched by ID number: it is required here."))
                continue
            if (code, number) in first:
                self.problem(row, "id_number", N_("The same person as row {row}."), row=first[(code, number)])
                continue
            first[(code, number)] = row.line
            current = None
            if "*" in number:
                matches = by_mask.get((enterprise["id"], number), [])
                if len(matches) != 1:
                    self.problem(row, "id_number", N_("This ID number is masked and matches no single person of the "
                                                      "enterprise: type the number in full."))
                    continue
                current = matches[0]
                del data["id_number"]
            else:
                current = by_number.get((enterprise["id"], number))
                other = elsewhere.get(number)
                if current is None and other is not None and other[0] != enterprise["id"]:
                    self.problem(row, "id_number", N_("Already on the roster as working at {enterprise}: mark them as "
                                                      "left there first."), enterprise=other[1])
                    continue
            if current is None:
                self._new_person(row, data, enterprise)
            else:
                self._changed_person(row, data, current)

    def _held_people(self, enterprise_ids: list[Any]) -> list[dict[str, Any]]:
        table = Person.__table__
        out = []
        for part in _chunks(enterprise_ids):
            stmt = select(*(table.c[n] for n in PERSON_READ)).where(
                table.c.enterprise_id.in_(part), table.c.deleted_at.is_(None))
            out.extend(dict(zip(PERSON_READ, values)) for values in self.session.execute(stmt).tuples())
        return out

    def _working_elsewhere(self, numbers: list[str]) -> dict[str, tuple[Any, str]]:
        """ID number -> (enterprise id, its name) of people still working at an enterprise `p` may see: a clash is
        told only within the importer's own scope, so an import is no way to learn who works where."""
        out: dict[str, tuple[Any, str]] = {}
        for part in _chunks(numbers):
            stmt = (select(Person.id_number, Person.enterprise_id, Enterprise.name)
                    .join(Enterprise, Enterprise.id == Person.enterprise_id)
                    .where(Person.id_number.in_(part), Person.left_on.is_(None), policy.visible(Person, self.p)))
            for number, enterprise_id, name in self.session.execute(stmt).tuples():
                out.setdefault(number, (enterprise_id, name))
        return out

    def _new_person(self, row: Row, data: dict[str, Any], enterprise: dict[str, Any]) -> None:
        try:
            values = roster.clean_person(data, partial=False, current=None, p=self.p)
            policy.require_write(self.p, "person", "create", enterprise["node_id"])
        except (InvalidField, Forbidden) as exc:
            self.refused(row, exc)
            return
        values.update(id=new_id(), enterprise_id=enterprise["id"], node_id=enterprise["node_id"])
        self.result.new_people.append(values)

    def _changed_person(self, row: Row, data: dict[str, Any], current: dict[str, Any]) -> None:
        try:
            values = roster.clean_person(data, partial=True, current=SimpleNamespace(**current), p=self.p)
            policy.require_write(self.p, "person", "update", current["node_id"])
        except (InvalidField, Forbidden) as exc:
            self.refused(row, exc)
            return
        changes = {k: v for k, v in values.items() if current.get(k) != v}
        if changes:
            self.result.changed_people.append((current, changes))
        else:
            self.result.unchanged += 1


# --- writing it ------------------------------------------------------------------------------------------------

class Stale(Exception):
    """The roster changed between the check and the write."""


def write(session: Session, p: Principal, result: Plan, source: Mapping[str, Any]) -> dict[str, int]:
    """Write a plan without problems in the session's transaction, stamped for sync as change capture stamps a write,
    and audit it as one entry; the counts."""
    assert not result.problems
    _still_as_checked(session, result)
    node_id = str(session.info.get("node_id") or "hub")
    outbox = bool(session.info.get("outbox"))
    actor_id = p.user_id
    now = utcnow()
    sent: list[dict[str, Any]] = []
    for table, new_rows, entity in ((Enterprise.__table__, result.new_enterprises, "enterprise"),
                                    (Person.__table__, result.new_people, "person")):
        rows = [{**values, "field_versions": {}, "version": clock.now(), "created_at": now, "updated_at": now}
                for values in new_rows]
        bulk.insert_rows(session, table, rows)
        if outbox:
            sent.extend({"entity": entity, "row_id": str(r["id"]), "fields": None, "prior": None, "actor_id": actor_id,
                         "created_at": now} for r in rows)
    for table, changed, entity in ((Enterprise.__table__, result.changed_enterprises, "enterprise"),
                                   (Person.__table__, result.changed_people, "person")):
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for current, changes in changed:
            version = clock.now()
            versions = dict(current["field_versions"] or {})
            prior = {name: versions.get(name) for name in changes}
            versions.update({name: [version, node_id] for name in changes})
            names = tuple(sorted(changes))
            groups.setdefault(names, []).append({"id": current["id"], **changes, "version": version,
                                                 "field_versions": versions, "updated_at": now})
            if outbox:
                sent.append({"entity": entity, "row_id": str(current["id"]), "fields": list(names), "prior": prior,
                             "actor_id": actor_id, "created_at": now})
        for names, rows in groups.items():
            bulk.update_rows(session, table, rows, [*names, "version", "field_versions", "updated_at"])
    if sent:
        bulk.insert_rows(session, SyncOutbox.__table__, sent)
    counts = result.counts()
    audit_write(session, p, "import", "enterprise", None, {**counts, **source})
    return counts


def _still_as_checked(session: Session, result: Plan) -> None:
    """Every row the plan changes is at the version it was checked at, and no credit code it adds has appeared."""
    for model, changed in ((Enterprise, result.changed_enterprises), (Person, result.changed_people)):
        checked = {current["id"]: current["version"] for current, _ in changed}
        for part in _chunks(list(checked)):
            for row_id, version in session.execute(select(model.id, model.version).where(model.id.in_(part))).tuples():
                if checked[row_id] != version:
                    raise Stale()
    codes = [values["credit_code"] for values in result.new_enterprises]
    for part in _chunks(codes):
        if session.scalar(select(Enterprise.id).where(Enterprise.credit_code.in_(part),
                                                      Enterprise.deleted_at.is_(None)).limit(1)) is not None:
            raise Stale()


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def run(db: Any, p: Principal, content: bytes, filename: str, dry_run: bool,
        progress: Progress = _quiet) -> dict[str, Any]:
    """Read, check and (unless `dry_run` or a row has a problem) write a workbook: the answer the API and the pages
    show. ImportRefused when the file is no roster workbook; Stale when the roster changed under the check."""
    progress("reading", 0, 0)
    sheets = read_workbook(content)
    progress("checking", 0, sheets.total)
    source = {"file": filename[:200], "sha256": digest(content), "rows": sheets.total}
    with db.reads() as session:
        result = plan(session, p, sheets, progress)
    answer = {"dry_run": dry_run, "rows": sheets.total, **result.answer(), "written": False}
    if dry_run or result.problems:
        return answer
    progress("writing", sheets.total, sheets.total)
    try:
        with db.transaction(actor=p) as session:
            write(session, p, result, source)
    except IntegrityError:
        # A credit code added by someone else between the check and the write (the unique index refused it).
        raise Stale() from None
    answer["written"] = True
    return answer


# --- the template ------------------------------------------------------------------------------------------------

def template(police: bool) -> bytes:
    """A blank workbook to fill in: the two sheets with their headers (required ones marked *), their code and ID
    columns kept as text, a drop-down list where a column takes a choice, and a sheet that says how to fill it in."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    book = Workbook()
    guide = book.active
    guide.title = i18n.gettext(N_("How to fill in"))
    for line in GUIDE:
        guide.append([i18n.gettext(line)])
    guide.column_dimensions["A"].width = 110
    guide["A1"].font = Font(bold=True, size=13)
    for kind, columns in ((ENTERPRISES, ENTERPRISE_COLUMNS), (PEOPLE, PERSON_COLUMNS)):
        sheet = book.create_sheet(i18n.gettext(SHEET_TITLES[kind]))
        shown = [c for c in columns if c.field not in SHOWN_ONLY
                 and (police or c.field not in ("risk_level", "is_key"))]
        sheet.append([i18n.gettext(c.header) + ("*" if c.field in REQUIRED[kind] else "") for c in shown])
        sheet.freeze_panes = "A2"
        for index, column in enumerate(shown, start=1):
            letter = get_column_letter(index)
            sheet.column_dimensions[letter].width = column.width
            sheet.cell(row=1, column=index).font = Font(bold=True)
            if column.field in ("credit_code", "region_code", "id_number", "phone", "contact_phone"):
                # The whole column as text: Excel keeps an 18-digit number typed there as it was typed.
                sheet.column_dimensions[letter].number_format = "@"
            if column.choices:
                labels = ",".join(i18n.gettext(v) for v in column.choices.values())
                check = DataValidation(type="list", formula1=f'"{labels}"', allow_blank=True)
                check.add(f"{letter}2:{letter}{MAX_ROWS}")
                sheet.add_data_validation(check)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


GUIDE = (
    N_("Importing the roster: how to fill in this workbook"),
    N_("1. The sheet “Enterprises” lists enterprises, one per row; the sheet “People” lists their people, one per "
       "row, each naming their enterprise by its credit code."),
    N_("2. Columns marked * are required. Keep the headers of the first row as they are; columns may be left out "
       "or put in another order."),
    N_("3. An enterprise whose credit code is already on the roster is updated with the cells filled in; an empty "
       "cell keeps what is stored. A person is matched by ID number within their enterprise."),
    N_("4. Credit codes, region codes, ID numbers and phones must be typed as text (the template's columns are "
       "already formatted so): Excel drops the last digits of long numbers."),
    N_("5. Industry, risk level and key enterprise take the values of their drop-down lists."),
    N_("6. Upload the workbook on the import page: every row is checked first and nothing is written until no row "
       "has a problem; then the whole workbook is written at once, or nothing is."),
    N_("7. A workbook exported from the roster (the enterprise or people list) can be edited and imported back."),
)
