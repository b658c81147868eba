"""A report's figures as titled tables, each with the chart drawn from it: the page, the PDF and the workbook show
the same tables in the same order. Headers are in Chinese (the reports are filed and forwarded as they are)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from common.reports.models import Report


@dataclass
class Table:
    id: str
    title: str
    columns: list[str]
    rows: list[list[Any]]
    # The chart: the category labels (first column) against these value columns; "bar" or "line".
    chart: list[int] = field(default_factory=list)
    chart_kind: str = "bar"
    unit: str = ""

    def chart_data(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "kind": self.chart_kind, "unit": self.unit,
                "labels": [str(r[0]) for r in self.rows],
                "series": [{"name": self.columns[i], "values": [r[i] for r in self.rows]} for i in self.chart]}


def _counts(id_: str, title: str, first: str, rows: list[dict[str, Any]]) -> Table:
    return Table(id_, title, [first, "数量"], [[r["label"], r["count"]] for r in rows], chart=[1])


def _pct(value: Any) -> Any:
    return "—" if value is None else value


def tables(report: Report) -> list[Table]:
    f = report.figures or {}
    out: list[Table] = []
    risk = f.get("risk") or {}
    if report.kind == "monthly":
        summary = [["采纳风险信息（条）", risk.get("total", 0)], ["上月（条）", risk.get("previous_total", 0)],
                   ["环比变化（条）", risk.get("change", 0)], ["安全走访（次）", (f.get("visits") or {}).get("visits", 0)],
                   ["发现隐患（处）", (f.get("visits") or {}).get("hazards", 0)],
                   ["新受理诉求（件）", (f.get("cases") or {}).get("total", 0)]]
        out.append(Table("summary", "本月概况", ["项目", "数值"], summary))
    if report.kind == "quarterly":
        out.append(Table("units", "各警种部门办理情况", [
            "警种部门", "派单", "应签收", "按时签收", "按时签收率%", "签收用时中位数（小时）", "应反馈", "按时反馈",
            "按时反馈率%", "退单", "延期", "催办", "督办", "回访满意度"],
            [[u["name"], u["dispatched"], u["sign_due"], u["signed_on_time"], _pct(u["sign_rate"]),
              _pct(u["median_sign_hours"]), u["report_due"], u["reported_on_time"], _pct(u["report_rate"]), u["returned"],
              u["extensions"], u["urged"], u["supervised"], _pct(u["satisfaction"])] for u in f.get("units", [])],
            chart=[4, 8], unit="%"))
        out.append(Table("subcenters", "各分中心走访情况", [
            "分中心", "走访（次）", "应走访企业", "已走访企业", "计划完成率%", "逾期未走访", "发现隐患", "未整改隐患"],
            [[s["name"], s["visits"], s["planned"], s["visited"], _pct(s["plan_rate"]), s["overdue"], s["hazards"],
              s["hazards_open"]] for s in f.get("subcenters", [])], chart=[1, 5]))
    if report.kind in ("semiannual", "annual"):
        totals = f.get("totals") or {}
        out.append(Table("totals", "案件办理总体情况", ["项目", "数值"], [
            ["受理诉求（件）", (f.get("cases") or {}).get("total", 0)], ["派单（次）", totals.get("dispatched", 0)],
            ["超期（次）", totals.get("overdue", 0)], ["退单（次）", totals.get("returned", 0)],
            ["催办（次）", totals.get("urged", 0)], ["督办（次）", totals.get("supervised", 0)]], chart=[1]))
        out.append(Table("trend", "风险信息月度趋势", ["月份", "采纳风险信息（条）"],
                         [[r["label"], r["count"]] for r in f.get("risk_trend", [])], chart=[1], chart_kind="line"))
        out.append(Table("units", "各警种部门办理情况", [
            "警种部门", "派单", "按时签收率%", "按时反馈率%", "退单", "催办", "督办"],
            [[u["name"], u["dispatched"], _pct(u["sign_rate"]), _pct(u["report_rate"]), u["returned"], u["urged"],
              u["supervised"]] for u in f.get("units", [])], chart=[2, 3], unit="%"))
    out.append(_counts("region", "风险信息：按地区", "地区", risk.get("by_region", [])))
    out.append(_counts("industry", "风险信息：按行业", "行业", risk.get("by_industry", [])))
    out.append(_counts("category", "风险信息：按类别", "类别", risk.get("by_category", [])))
    out.append(_counts("severity", "风险信息：按风险等级", "等级", risk.get("by_severity", [])))
    if report.kind == "monthly":
        hot = [["地区", r["label"], r["count"]] for r in risk.get("hot_regions", [])] + \
              [["行业", r["label"], r["count"]] for r in risk.get("hot_industries", [])]
        out.append(Table("hot", "风险热点", ["维度", "名称", "数量"], hot))
    cases = (f.get("cases") or {}).get("by_category", [])
    out.append(_counts("cases", "受理诉求：按类别", "类别", cases))
    return out
