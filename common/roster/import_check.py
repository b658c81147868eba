"""An import's check: every row of a workbook against the roster's own rules (`service.clean_enterprise`,
`clean_person`, the role rules and the writer's scope) and against the roster itself, so a row the form or the API
would refuse is refused here too, with its sheet, row and column. Enterprises are matched by credit code, people by
ID number within their enterprise; a matched row is changed by the cells filled in (an empty cell keeps what is
stored), any other row is added. The answer is a `Plan`: what writing would do, and every problem.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from common import i18n, policy
from common.errors import Forbidden, InvalidField
from common.i18n import N_
from common.models import Enterprise, Node, Person
from common.orm import new_id
from common.policy import Principal
from common.roster import service as roster
from common.roster.workbook import ENTERPRISE_COLUMNS, ENTERPRISES, Problem, Row, Sheets
from common.service import enforce_rules
from common.validation import mask_id_number, mask_phone

# How many rows between two progress reports.
STEP = 500
# The most problems an answer lists (the count says how many there were in all).
MAX_LISTED = 1000

CHOICE_COLUMNS = {c.field: c for c in ENTERPRISE_COLUMNS if c.choices}
NOT_ALLOWED = "Not one of the allowed values"  # common.service.choice's refusal
ENTERPRISE_FIELDS = ("name", "credit_code", "region_code", "address", "industry", "parent_company", "node",
                     "contact_name", "contact_phone", "risk_level", "is_key", "notes")
PERSON_FIELDS = ("name", "id_number", "phone", "position", "left_on")


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


def quiet(stage: str, done: int, total: int) -> None:
    """No one is watching (the API answers once it is done)."""


# --- checking it against the roster ---------------------------------------------------------------------------

def plan(session: Session, p: Principal, sheets: Sheets, progress: Progress = quiet) -> Plan:
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


def chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
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
        for part in chunks(codes):
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
        for part in chunks(enterprise_ids):
            stmt = select(*(table.c[n] for n in PERSON_READ)).where(
                table.c.enterprise_id.in_(part), table.c.deleted_at.is_(None))
            out.extend(dict(zip(PERSON_READ, values)) for values in self.session.execute(stmt).tuples())
        return out

    def _working_elsewhere(self, numbers: list[str]) -> dict[str, tuple[Any, str]]:
        """ID number -> (enterprise id, its name) of people still working at an enterprise `p` may see: a clash is
        told only within the importer's own scope, so an import is no way to learn who works where."""
        out: dict[str, tuple[Any, str]] = {}
        for part in chunks(numbers):
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


