"""A report as a PDF (WeasyPrint, from templates/reports/pdf.html: A4, the center's heading, Noto Sans CJK SC found
through fontconfig and embedded (subset) so the Chinese text is selectable, nothing fetched from the network) and as
an Excel workbook."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from common import i18n
from common.reports.charts import chart_svg
from common.reports.models import Report
from common.reports.service import title_of
from common.reports.tables import tables
from common.web.templating import environment

CENTER = "启东市警企联动服务中心"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# The PDF's style sheet: a file beside this module, as no page of ours carries a <style> element.
PDF_CSS = Path(__file__).with_name("pdf.css")


def _zh(msgid: str) -> str:
    return i18n.translate(msgid, "zh_Hans")


def _refuse_network(url: str, *args: Any, **kwargs: Any) -> Any:
    """Only local files: a report never waits on (or leaks to) the network."""
    if url.startswith("file:"):
        from weasyprint.urls import default_url_fetcher
        return default_url_fetcher(url, *args, **kwargs)
    raise ValueError(f"not fetched: {url}")


def html(report: Report, repeat: int = 1) -> str:
    return environment().get_template("reports/pdf.html").render(
        report=report, title=title_of(report, _zh), center=CENTER, tables=tables(report), chart=chart_svg,
        repeat=repeat)


def pdf(report: Report, repeat: int = 1) -> bytes:
    import logging

    from weasyprint import CSS, HTML

    # Its step-by-step progress lines cost time and tell an operator nothing; its warnings still show.
    for name in ("weasyprint", "weasyprint.progress"):
        logging.getLogger(name).setLevel(logging.WARNING)

    return HTML(string=html(report, repeat), url_fetcher=_refuse_network).write_pdf(stylesheets=[CSS(filename=str(PDF_CSS))])


def workbook(report: Report) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    cover = book.active
    cover.title = "说明"
    cover.append([CENTER])
    cover.append([title_of(report, _zh)])
    cover.append(["状态", "已发布" if report.status == "published" else "草稿"])
    cover.append(["分析", report.analysis])
    cover.append(["指导意见", report.guidance])
    cover["A1"].font = Font(bold=True, size=14)
    cover.column_dimensions["A"].width = 16
    cover.column_dimensions["B"].width = 60
    for t in tables(report):
        sheet = book.create_sheet(t.title.replace("：", "-")[:31])
        sheet.append(t.columns)
        for row in t.rows:
            sheet.append(row)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        sheet.column_dimensions["A"].width = 24
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
