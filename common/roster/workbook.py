"""The roster's workbook: the columns an import reads (those of `/enterprises.xlsx` and `/people.xlsx`, so an
exported workbook, edited, reads back), reading a workbook's rows by those columns, and the blank template.

Headers are read in either language; a sheet is told by its columns, not its name. A file that is no workbook, or
one that unpacks to far more than a roster holds, is refused unread.
"""
from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from python_calamine import CalamineError, CalamineWorkbook, SheetVisibleEnum

from common import i18n
from common.i18n import N_
from common.policy import Principal
from common.roster.exports import enterprise_columns, person_columns
from common.web.xlsx import Column, code_for, fields_of

# A workbook of this many bytes holds far more rows than any roster import; anything bigger is refused unread.
MAX_BYTES = 20 * 1024 * 1024
# What its parts may unpack to, and how many parts it may have: a small file that unpacks to gigabytes is refused.
MAX_UNPACKED = 400 * 1024 * 1024
MAX_PARTS = 2000
MAX_ROWS = 50_000
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
REQUIRED = {ENTERPRISES: ("name", "credit_code", "region_code"), PEOPLE: ("credit_code", "name", "id_number")}
# Codes Excel keeps as numbers lose their last digits past 15: told apart from a typo.
LONG_CODES = frozenset({"credit_code", "id_number"})


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
