"""A report table's chart as plain SVG for the PDF: horizontal bars (one colour per value column) or a line over the
months. The page draws the same data with ECharts in the browser; the PDF cannot run scripts, and WeasyPrint renders
plain SVG shapes and text faithfully (text in the document's font, so the labels stay selectable Chinese text).

The SVG is built from numbers and escaped labels only; nothing in it comes from a request."""
from __future__ import annotations

from html import escape
from typing import Any

from markupsafe import Markup

COLOURS = ("#1f4e8c", "#d9822b", "#2e8b57", "#8e44ad")
WIDTH = 520  # in pt, within A4's text width at the PDF's margins
LABEL = 130  # the category labels' column
ROW = 14
MOST_ROWS = 15  # more categories than this: the largest ones are drawn (the table beside it lists them all)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _fmt(value: float, unit: str) -> str:
    text = f"{value:.1f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
    return text + unit


def _clip(label: str, most: int = 12) -> str:
    return label if len(label) <= most else label[: most - 1] + "…"


def _legend(series: list[dict[str, Any]], y: float) -> list[str]:
    if len(series) < 2:
        return []
    out, x = [], LABEL
    for i, s in enumerate(series):
        out.append(f'<rect x="{x}" y="{y}" width="8" height="8" fill="{COLOURS[i % len(COLOURS)]}"/>'
                   f'<text x="{x + 11}" y="{y + 7.5}" font-size="8">{escape(str(s["name"]))}</text>')
        x += 24 + 9 * len(str(s["name"]))
    return out


def bars(data: dict[str, Any]) -> str:
    series = data["series"]
    rows = [(label, [_number(s["values"][i]) for s in series]) for i, label in enumerate(data["labels"])]
    rows = [r for r in rows if any(v is not None for v in r[1])]
    if not rows:
        return ""
    if len(rows) > MOST_ROWS:
        rows = sorted(rows, key=lambda r: -max(v or 0 for v in r[1]))[:MOST_ROWS]
    top = max(max(v or 0 for v in values) for _, values in rows) or 1.0
    band = ROW * len(series) + 4
    legend = 14 if len(series) > 1 else 0
    height = legend + band * len(rows) + 4
    scale = (WIDTH - LABEL - 40) / top
    parts = _legend(series, 2)
    for n, (label, values) in enumerate(rows):
        y0 = legend + n * band
        parts.append(f'<text x="{LABEL - 4}" y="{y0 + band / 2 + 3}" font-size="8" text-anchor="end">'
                     f'{escape(_clip(str(label)))}</text>')
        for i, value in enumerate(values):
            if value is None:
                continue
            y = y0 + 2 + i * ROW
            length = max(value * scale, 0.5)
            parts.append(f'<rect x="{LABEL}" y="{y}" width="{length:.1f}" height="{ROW - 3}" '
                         f'fill="{COLOURS[i % len(COLOURS)]}"/>'
                         f'<text x="{LABEL + length + 3:.1f}" y="{y + ROW - 5}" font-size="7.5">'
                         f'{_fmt(value, data.get("unit") or "")}</text>')
    parts.append(f'<line x1="{LABEL}" y1="{legend}" x2="{LABEL}" y2="{height - 2}" stroke="#666" stroke-width="0.6"/>')
    return _svg(parts, height, data["title"])


def line(data: dict[str, Any]) -> str:
    [series] = data["series"][:1] or [None]
    if series is None or not data["labels"]:
        return ""
    values = [_number(v) or 0.0 for v in series["values"]]
    top = max(values) or 1.0
    height, left, bottom = 150, 30, 22
    step = (WIDTH - left - 30) / max(len(values) - 1, 1)
    inner = height - bottom - 12

    def at(i: int, v: float) -> tuple[float, float]:
        return left + i * step, 12 + inner * (1 - v / top)

    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in (at(i, v) for i, v in enumerate(values)))
    parts = [f'<line x1="{left}" y1="{height - bottom}" x2="{WIDTH - 5}" y2="{height - bottom}" stroke="#666" '
             f'stroke-width="0.6"/>',
             f'<polyline points="{points}" fill="none" stroke="{COLOURS[0]}" stroke-width="1.5"/>']
    for i, (label, value) in enumerate(zip(data["labels"], values)):
        x, y = at(i, value)
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2" fill="{COLOURS[0]}"/>'
                     f'<text x="{x:.1f}" y="{y - 4:.1f}" font-size="7.5" text-anchor="middle">{_fmt(value, "")}</text>'
                     f'<text x="{x:.1f}" y="{height - bottom + 11}" font-size="7.5" text-anchor="middle">'
                     f'{escape(str(label))}</text>')
    return _svg(parts, height, data["title"])


def _svg(parts: list[str], height: float, title: str) -> str:
    return (f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}pt" height="{height:.0f}pt" '
            f'viewBox="0 0 {WIDTH} {height:.0f}" font-family="Noto Sans CJK SC, sans-serif" fill="#111" role="img">'
            f'<title>{escape(title)}</title>{"".join(parts)}</svg>')


def chart_svg(table: Any) -> Markup:
    """The table's chart as inline SVG, or nothing when it has no chart or no figures to draw."""
    if not table.chart or not table.rows:
        return Markup("")
    data = table.chart_data()
    return Markup(line(data) if data["kind"] == "line" else bars(data))
