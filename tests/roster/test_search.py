"""The roster found by what people type: the pinyin (full or initials) of any run of a name's characters."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from common.db import Database
from common.models import Enterprise
from common.roster.service import name_pinyin
from common.validation import make_credit_code

HOST = "启东建工集团有限公司上海分公司"


def _found(client: Any, term: str) -> list[str]:
    response = client.get("/api/v1/enterprises", params={"q": term, "limit": 200})
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def _make(client: Any, name: str, body: str) -> str:
    made = client.post("/api/v1/enterprises", json={
        "name": name, "credit_code": make_credit_code("9", "1", "310115", body), "region_code": "310115",
        "industry": "construction", "node": "sc-shanghai"})
    assert made.status_code == 201, made.text
    return made.json()["id"]


def test_a_name_is_found_by_the_pinyin_of_any_of_its_words(clients: Any, world: dict[str, Any]) -> None:
    office = clients("office")
    host = _make(office, HOST, "J1G2A3B4")
    bank = _make(office, "重庆银行股份有限公司上海分行", "C1Q2Y3H4")
    for term in ("qdjg", "jg", "jiangong", "qidong", "qidongjiangong", "QDJG", "qdjgjtyxgsshfgs", "jt", "shanghaifengongsi"):
        assert host in _found(office, term), term
    # Readings from the phrase dictionary: 重庆 is chongqing, 银行 yinhang.
    for term in ("chongqing", "yinhang", "cqyh", "cq", "chongqingyinhang"):
        assert bank in _found(office, term), term
    for term in ("zhongqing", "yinxing", "qdjz", "jgx"):
        assert host not in _found(office, term) and bank not in _found(office, term), term
    # A sub-center finds its own by the same forms, and never another subtree's.
    assert host in _found(clients("subcenter_sh"), "jg")
    assert host not in _found(clients("subcenter_sz"), "qdjg")


def test_punctuation_does_not_split_a_run_and_long_names_fit_the_column() -> None:
    assert name_pinyin("启东华顺（浦东）建设") == "qidonghuashunpudongjianshe qdhspdjs"
    long_name = "启东" + "长江航运" * 49  # 198 characters: every initial kept, the full pinyin cut to fit
    value = name_pinyin(long_name)
    assert len(value) <= 600 and value.endswith(" qd" + "cjhy" * 49) and value.startswith("qidongchangjianghangyun")


def test_rows_with_a_stale_value_are_found_once_migrated(clients: Any, world: dict[str, Any], db: Database) -> None:
    """A row renamed without its pinyin (as the demo's seed renamed the workstation's host) is found after 0016."""
    import importlib

    migration = importlib.import_module("common.migrations.versions.0016_name_pinyin_every_run")
    office = clients("office")
    eid = world["enterprises"]["sh"]
    with db.transaction() as session:
        session.execute(update(Enterprise).where(Enterprise.id == eid).values(name=HOST))
    assert str(eid) not in _found(office, "jiangong") and str(eid) not in _found(office, "jg")
    with db.transaction() as session:
        before = session.scalar(select(Enterprise.version).where(Enterprise.id == eid))
        assert migration.recompute_name_pinyin(session.connection(), batch=2) >= 1
    with db.reads() as session:
        row = session.get(Enterprise, eid)
        assert row.name_pinyin == name_pinyin(HOST) and row.version == before  # derived alike on every node: no sync
    for term in ("jiangong", "jg", "qdjg", "qidong"):
        assert str(eid) in _found(office, term), term
    with db.transaction() as session:
        assert migration.recompute_name_pinyin(session.connection()) == 0  # nothing left to rewrite
