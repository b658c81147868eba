"""Administrative division codes (GB/T 2260 style, six digits) with their Chinese names.

`common/data/regions.json` (origin in `common/data/README.md`) maps code -> own name; the code carries the
hierarchy (`PP0000` a province, `PPCC00` a city, anything else a county under both). Full names join the levels
with spaces ("江苏省 南通市 启东市"), leaving out placeholders such as "市辖区", which no address contains.
"""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import NamedTuple

DATA_FILE = Path(__file__).parent / "data" / "regions.json"

_PLACEHOLDER_NAMES = frozenset({"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"})


class Region(NamedTuple):
    code: str
    name: str
    full_name: str


@cache
def _table() -> dict[str, str]:
    # Loaded on first use so importing validation code costs nothing until a region is looked up.
    with DATA_FILE.open(encoding="utf-8") as fh:
        return json.load(fh)["regions"]


@cache
def _province_prefixes() -> frozenset[str]:
    return frozenset(code[:2] for code in _table() if code.endswith("0000"))


def is_known(code: str) -> bool:
    """Whether `code` is exactly a six-digit code in the table."""
    return code in _table()


def is_province_prefix(prefix: str) -> bool:
    """Whether the first two digits of `prefix` name a province-level division."""
    return prefix[:2] in _province_prefixes()


def province_of(code: str) -> str | None:
    """The six-digit code of the province `code` belongs to, if that province exists."""
    if len(code) < 2 or not is_province_prefix(code):
        return None
    return code[:2] + "0000"


def _ancestry(code: str) -> list[str]:
    # Province, then city, then the code itself; a level is skipped when the code *is* that level
    # or the table lacks it (e.g. 441900 is both Dongguan the city and its only county-level row).
    chain = [code[:2] + "0000", code[:4] + "00", code]
    seen: list[str] = []
    for candidate in chain:
        if candidate in _table() and candidate not in seen:
            seen.append(candidate)
    return seen


def region_name(code: str) -> str | None:
    """Full space-separated name such as "江苏省 南通市 启东市", or None for an unknown code."""
    table = _table()
    if code not in table:
        return None
    parts = [table[c] for c in _ancestry(code) if table[c] not in _PLACEHOLDER_NAMES]
    # A placeholder row on its own (e.g. 310100 "市辖区") still deserves a non-empty name.
    return " ".join(parts) or table[code]


def search_regions(prefix_or_name: str, limit: int = 20) -> list[Region]:
    """Regions whose code starts with the given digits, or whose full name contains the given text.

    Name matches are ranked so that an exact own name comes first, then own names starting with
    the text, then any other full-name match; ties keep code order, which is also province order.
    """
    query = prefix_or_name.strip()
    if not query or limit <= 0:
        return []
    table = _table()
    if query.isdigit():
        codes = [code for code in table if code.startswith(query)]
        return [Region(code, table[code], region_name(code) or table[code]) for code in codes[:limit]]
    ranked: list[tuple[int, str]] = []
    for code, name in table.items():
        if name in _PLACEHOLDER_NAMES:
            continue
        full = region_name(code) or name
        if query not in full:
            continue
        rank = 0 if name == query else 1 if name.startswith(query) else 2
        ranked.append((rank, code))
    ranked.sort()
    return [Region(code, table[code], region_name(code) or table[code]) for _, code in ranked[:limit]]
