"""Excel workbooks of the lists: written row by row (XlsxWriter's constant-memory mode) to a temporary file and sent
as one.

Each domain keeps its own column table (`Column`s) beside its pages; this module turns rows and a table into a
workbook and a download. A workbook names its columns twice: headers people read (in the page's language), and a
hidden sheet of the fields they hold, so an edited workbook can be read back by field whatever its headers say.
"""
from __future__ import annotations

import contextlib

import os
import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, BinaryIO, Callable, Iterable, Iterator, Mapping, Sequence
from urllib.parse import quote
from zoneinfo import ZoneInfo

import xlsxwriter
from litestar import Request
from litestar.response import Stream
from openpyxl import load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from common import i18n
from common.i18n import N_
from common.policy import Principal
from common.service import audit_write
from common.web.templating import environment

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# The hidden sheet whose first row holds each column's field, in the order of the visible sheet.
FIELDS_SHEET = "_fields"
# A handler's `opt` key that keeps the app's gzip off a response already compressed (a workbook is a zip).
SKIP_COMPRESSION = "skip_compression"
EXPORT_OPT = {SKIP_COMPRESSION: True}
# Bytes per body message when the file is sent.
SEND_CHUNK = 256 * 1024
# Rows fetched from the database at a time: memory stays flat however long the list.
CHUNK = 1000
BEIJING = ZoneInfo("Asia/Shanghai")
YES_NO: dict[Any, str] = {True: N_("Yes"), False: N_("No")}


@dataclass(frozen=True)
class Column:
    """One column: `field` is its machine key (the API's field name where there is one), `header` an English msgid,
    `value` what a row shows there. `choices`: the label table of a coded field, so a reader maps a label back to
    its code."""

    field: str
    header: str
    value: Callable[[Any], Any]
    width: int = 16
    choices: Mapping[Any, str] | None = None


def coded(field: str, header: str, table: Mapping[Any, str], get: Callable[[Any], Any], width: int = 16) -> Column:
    """A column that stores a code and shows its label in the page's language (the code itself when unknown)."""
    def label(row: Any) -> str:
        code = get(row)
        return i18n.gettext(table[code]) if code in table else ("" if code is None else str(code))
    return Column(field, header, label, width, table)


def local_time(value: datetime | None) -> str:
    """A moment as the pages show it (their `dt` filter: Beijing time, to the minute)."""
    return str(environment().filters["dt"](value))


def _write_row(sheet: Any, row: int, values: Sequence[Any]) -> None:
    # The characters XML cannot hold are left out (the pages' own text never has them); looked for once a row, as
    # almost no row has any.
    clean = ILLEGAL_CHARACTERS_RE.search("".join([v for v in values if type(v) is str])) is None
    for col, value in enumerate(values):
        if type(value) is str:
            if value:
                # Always typed text: a value starting with "=" is never a formula Excel would run when opened.
                sheet.write_string(row, col, value if clean else ILLEGAL_CHARACTERS_RE.sub("", value))
        elif value is None:
            continue
        elif isinstance(value, bool):
            sheet.write_boolean(row, col, value)
        elif isinstance(value, (int, float)):
            sheet.write_number(row, col, value)
        else:
            text = str(value)
            if text:
                sheet.write_string(row, col, ILLEGAL_CHARACTERS_RE.sub("", text))


def write_workbook(path: str, title: str, columns: Sequence[Column], rows: Iterable[Any]) -> int:
    """Write `rows` through `columns` into a new workbook at `path`; the number of rows written.

    In constant-memory mode each row goes to a temporary file as soon as the next one starts, with its text inline
    (no table of shared strings kept in memory): the memory a workbook takes does not grow with its rows.
    """
    book = xlsxwriter.Workbook(path, {"constant_memory": True, "strings_to_numbers": False,
                                      "strings_to_formulas": False, "strings_to_urls": False})
    sheet = book.add_worksheet(title[:31])
    for index, column in enumerate(columns):
        sheet.set_column(index, index, column.width)
    sheet.freeze_panes(1, 0)
    _write_row(sheet, 0, [i18n.gettext(c.header) for c in columns])
    values = [c.value for c in columns]
    count = 0
    try:
        for row in rows:
            count += 1
            _write_row(sheet, count, [value(row) for value in values])
    except BaseException:
        # A read that fails half-way: the rows written so far are closed into a file the caller throws away, so no
        # temporary file of the sheet is left to the garbage collector.
        with contextlib.suppress(Exception):
            book.close()
        raise
    keys = book.add_worksheet(FIELDS_SHEET)
    keys.hide()
    _write_row(keys, 0, [c.field for c in columns])
    book.close()
    return count


def fields_of(headers: Sequence[Any], columns: Sequence[Column]) -> list[str | None]:
    """The field of each header cell, read in either language; None for a column the table does not know."""
    known: dict[str, str] = {}
    for column in columns:
        for language in i18n.LANGUAGES:
            known[i18n.translate(column.header, language)] = column.field
        known[column.field] = column.field
    return [known.get(str(h).strip()) if h is not None else None for h in headers]


def code_for(column: Column, text: Any) -> Any:
    """The code a coded column's label (in either language) stands for; the text itself when it is no label."""
    for code, msgid in (column.choices or {}).items():
        if text in {i18n.translate(msgid, language) for language in i18n.LANGUAGES} or text == code:
            return code
    return text


def read_fields(path: str) -> list[str | None]:
    """The fields of an exported workbook's columns: from its hidden sheet when it still has one."""
    book = load_workbook(path, read_only=True)
    try:
        if FIELDS_SHEET in book.sheetnames:
            return [str(v) if v else None for v in next(book[FIELDS_SHEET].iter_rows(max_row=1, values_only=True), ())]
        return []
    finally:
        book.close()


def filename_header(stem: str, ascii_stem: str, day: date) -> str:
    """`attachment` with the name in the page's language (RFC 5987) and an ASCII one for older clients."""
    name = f"{stem}-{day.isoformat()}.xlsx"
    return f"attachment; filename=\"{ascii_stem}-{day.isoformat()}.xlsx\"; filename*=UTF-8''{quote(name)}"


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(SEND_CHUNK):
            yield chunk


def export_response(title: str, ascii_stem: str, day: date, columns: Sequence[Column], rows: Iterable[Any],
                    counted: Callable[[int], None]) -> Stream:
    """The workbook of `rows` as a download; `counted(n)` runs once it is written (the audit entry), before sending.

    The file has no name on disk by the time it is sent: it is unlinked once written and read from its open handle,
    so nothing is left behind however the download ends (a browser gone halfway, the process stopped).
    """
    handle, path = tempfile.mkstemp(prefix="lianfu-export-", suffix=".xlsx")
    os.close(handle)
    try:
        count = write_workbook(path, i18n.gettext(title), columns, rows)
        counted(count)
        opened = open(path, "rb")  # noqa: SIM115 - closed by the stream when sent or dropped
    finally:
        os.unlink(path)
    size = os.fstat(opened.fileno()).st_size
    return Stream(_chunks(opened), media_type=XLSX,
                  headers={"Content-Disposition": filename_header(i18n.gettext(title), ascii_stem, day),
                           "Content-Length": str(size),
                           # Personal data: kept by no cache on the way, only where the person saves it.
                           "Cache-Control": "no-store"})


def send_export(request: Request, p: Principal, entity_type: str, title: str, ascii_stem: str,
                columns: Sequence[Column], rows: Iterable[Any], filters: Mapping[str, Any]) -> Stream:
    """An export as the lists' pages answer it: the workbook, and one audit entry with its filters and row count."""
    state = request.app.state

    def counted(count: int) -> None:
        with state.db.transaction(actor=p) as session:
            audit_write(session, p, "export", entity_type, None,
                        {"filters": {k: v for k, v in filters.items() if v not in (None, "")}, "rows": count})

    return export_response(title, ascii_stem, today(state.clock()), columns, rows, counted)


def today(now: datetime) -> date:
    """The day it is in Beijing: what a file name's date says."""
    return now.astimezone(BEIJING).date()
