"""Hostile bodies, one by one: a gzip bomb at the sync push, offsets past 64 bits, JSON nested 10,000 deep, a case
form without its choices, a visit with a 5 MB checklist and 20,000 hazards, and every page form sent what no browser
sends. Each is refused with a 4xx in the app's error format (problem+json for the API, the page for people), and
nothing is written."""
from __future__ import annotations

import re
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from common.db import Database
from common.migrate import head_and_previous
from common.settings import Settings
from sync.wire import (
    MAX_BATCH_BYTES, MAX_INFLATED_BYTES, PROTOCOL, PROTOCOL_HEADER, SCHEMA_HEADER, PushBatch, TooLarge, encode, fits,
    inflate,
)
from tests.sync_support import Federation
from tests.security.test_api_fuzz import counts

HTML = {"Accept": "text/html"}
FORM = {**HTML, "Content-Type": "application/x-www-form-urlencoded"}
PROBLEM = "application/problem+json"
LISTS = ("/api/v1/enterprises", "/api/v1/people", "/api/v1/cases", "/api/v1/visits", "/api/v1/bulletins",
         "/api/v1/applications", "/api/v1/nodes")
PAGE_LISTS = ("/enterprises", "/cases", "/visits", "/applications", "/bulletins")


def gzip_bomb(inflated: int) -> bytes:
    """A gzip member of `inflated` zero bytes inside a JSON string, made without holding it: ~1/1000 of its size."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [packer.compress(b'{"batch_id": "bomb", "changes": [], "pad": "')]
    block = b"0" * (1 << 20)
    for _ in range(inflated // len(block)):
        parts.append(packer.compress(block))
    parts.append(packer.compress(b'"}'))
    parts.append(packer.flush())
    return b"".join(parts)


def refused(answer: Any, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text[:500]
    assert answer.headers["content-type"].startswith(PROBLEM)
    body = answer.json()
    assert body["status"] == status
    return body


# --- the sync push: a gzip bomb --------------------------------------------------------------------------------------

@pytest.fixture
def fed(settings: Settings, db: Database, world: dict[str, Any], tmp_path: Path) -> Iterator[Federation]:
    federation = Federation(settings, db, tmp_path / "spokes")
    yield federation
    federation.close()


def test_inflating_stops_at_the_limit_and_a_body_within_it_comes_back_whole() -> None:
    bomb = gzip_bomb(64 << 20)
    assert len(bomb) < 200_000
    started = time.monotonic()
    with pytest.raises(TooLarge):
        inflate(bomb, 1 << 20)
    # Refused after about a megabyte of output, not after inflating all 64.
    assert time.monotonic() - started < 1.0
    batch = PushBatch("ok", [], upto=3)
    assert inflate(encode(batch)) == encode(batch, compress=False)
    assert inflate(encode(batch) + encode(batch)) == encode(batch, compress=False) * 2
    with pytest.raises(TooLarge):
        inflate(encode(batch) + encode(batch), len(encode(batch, compress=False)) + 1)
    with pytest.raises(EOFError):
        inflate(encode(batch)[:-12])
    # A spoke never builds a batch the hub would refuse for what it inflates to, however well it compresses.
    assert fits({"pad": "0" * (MAX_INFLATED_BYTES // 2)}, MAX_BATCH_BYTES)
    assert not fits({"pad": "0" * MAX_INFLATED_BYTES}, MAX_BATCH_BYTES)


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_a_gzip_bomb_at_the_sync_push_is_refused_before_it_inflates(fed: Federation, db: Database) -> None:
    sh = fed.enroll("sc-shanghai")
    bomb = gzip_bomb(MAX_INFLATED_BYTES + (8 << 20))
    assert len(bomb) < 100_000
    headers = {PROTOCOL_HEADER: str(PROTOCOL), SCHEMA_HEADER: head_and_previous()[0], "Content-Encoding": "gzip",
               "Content-Type": "application/json"}
    before = counts(db)
    # A stranger is turned away before the body is read; the spoke's own credentials do not make a bomb welcome.
    assert fed.hub.post("/api/v1/sync/push", content=bomb, headers=headers).status_code == 401
    answer = fed.hub.post("/api/v1/sync/push", content=bomb,
                          headers={**headers, "Authorization": f"Bearer {sh.link.node_token()}"})
    refused(answer, 413)
    nested = zlib.compress(b"[" * 10_000 + b"]" * 10_000, wbits=16 + zlib.MAX_WBITS)
    answer = fed.hub.post("/api/v1/sync/push", content=nested,
                          headers={**headers, "Authorization": f"Bearer {sh.link.node_token()}"})
    refused(answer, 400)
    assert counts(db) == before
    # And the spoke's own rounds still go through.
    assert sh.sync().ok


# --- paging past 64 bits, JSON nested 10,000 deep --------------------------------------------------------------------

def test_an_offset_no_table_reaches_is_a_400_on_every_list(clients: Any) -> None:
    office = clients("office")
    for offset in ("9223372036854775808", "9223372036854775807", "-1", "1e30", "abc"):
        for path in LISTS:
            body = refused(office.get(path, params={"offset": offset}), 400)
            assert any(e["field"] == "offset" for e in body.get("errors", [])) or "offset" in body.get("detail", ""), \
                body
            refused(office.get(path, params={"limit": offset}), 400)
        for path in PAGE_LISTS:
            assert office.get(path, params={"offset": offset}, headers=HTML).status_code == 400
    assert office.get("/api/v1/cases", params={"offset": "1000000000"}).json()["items"] == []


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_json_nested_ten_thousand_deep_is_a_400_naming_the_nesting(clients: Any, db: Database,
                                                                   world: dict[str, Any]) -> None:
    ws = clients("workstation_1")
    before = counts(db)
    for body in (b"[" * 10_000 + b"]" * 10_000, b'{"a": ' * 10_000 + b"1" + b"}" * 10_000,
                 b'{"enterprise_id": "x", "visited_at": "2026-11-01T10:00:00", "checklist": '
                 + b'{"a": ' * 10_000 + b"1" + b"}" * 10_000 + b"}"):
        for path in ("/api/v1/visits", "/api/v1/cases", f"/api/v1/cases/{world['cases']['ws']}/events"):
            answer = ws.post(path, content=body, headers={"Content-Type": "application/json"})
            problem = refused(answer, 400)
            assert "嵌套" in problem["detail"] or problem["errors"], problem
    # Nested a little (below the decoders' limit) where a JSON column takes it: still refused, by the schema.
    shallow = {"enterprise_id": str(world["enterprises"]["ws"]), "visited_at": "2026-11-01T10:00:00",
               "checklist": {"fire_safety": {"a": [[[[1]]]]}}}
    refused(ws.post("/api/v1/visits", json=shallow), 400)
    assert counts(db) == before


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_malformed_json_and_wrong_types_are_400_with_the_field(clients: Any, world: dict[str, Any]) -> None:
    ws = clients("workstation_1")
    refused(ws.post("/api/v1/visits", content=b'{"enterprise_id": ', headers={"Content-Type": "application/json"}), 400)
    body = refused(ws.post("/api/v1/visits", json={"enterprise_id": str(world["enterprises"]["ws"]),
                                                   "visited_at": "2026-11-01T10:00:00", "attendance": 2**63}), 400)
    assert "attendance" in str(body)
    body = refused(ws.post(f"/api/v1/cases/{world['cases']['ws']}/events",
                           json={"kind": "comment", "note": "x", "satisfaction": 2**63}), 400)
    assert "satisfaction" in str(body)
    body = refused(ws.post(f"/api/v1/cases/{world['cases']['ws']}/events",
                           json={"kind": "comment", "note": "x", "unit": "no-such-unit"}), 422)
    assert body["errors"][0]["field"] == "unit"


# --- the case form without its choices ---------------------------------------------------------------------------

@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_a_case_form_without_category_or_urgency_comes_back_with_the_error_in_chinese(clients: Any, db: Database,
                                                                                    world: dict[str, Any]) -> None:
    ws = clients("workstation_1")
    before = counts(db)
    for left_out in (("category",), ("urgency",), ("category", "urgency", "channel", "jurisdiction")):
        data = {"enterprise_id": str(world["enterprises"]["ws"]), "channel": "platform", "category": "economic_dispute",
                "urgency": "urgent", "jurisdiction": "local", "title": "缺少选项", "csrf_token": ws.csrf}
        for name in left_out:
            del data[name]
        answer = ws.post("/cases/new", data=data, headers=HTML, follow_redirects=False)
        if left_out == ("urgency",):
            # The urgency has a default (routine): left out, the request is raised as routine.
            assert answer.status_code == 303, answer.text[:300]
            continue
        assert answer.status_code == 422, answer.text[:300]
        assert "<html" in answer.text and re.search(r'id="e-category">此项必填<', answer.text)
        assert 'value="缺少选项"' in answer.text
    assert counts(db)[2] == before[2] + 1  # the one raised as routine


# --- a visit with a 5 MB checklist and 20,000 hazards ------------------------------------------------------------

@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_a_visit_with_a_huge_checklist_or_20000_hazards_is_refused_by_api_and_page(clients: Any, db: Database,
                                                                                 world: dict[str, Any]) -> None:
    # The sub-center logs visits (its workstation's enterprise among them).
    ws = clients("subcenter_sh")
    enterprise = str(world["enterprises"]["ws"])
    base = {"enterprise_id": enterprise, "visited_at": "2026-11-01T10:00:00", "kind": "safety"}
    before = counts(db)
    big_checklist = {f"item_{n}": "ok" * 10 for n in range(220_000)}  # ~5 MB of JSON
    hazards = [{"description": f"隐患{n}", "severity": "medium"} for n in range(20_000)]
    one_huge_answer = {"fire_safety": "x" * 5_000_000}
    for body in ({**base, "checklist": big_checklist}, {**base, "hazards": hazards},
                 {**base, "checklist": one_huge_answer}):
        problem = refused(ws.post("/api/v1/visits", json=body), 400)
        assert any(e["field"].startswith(("checklist", "hazards")) for e in problem["errors"]), problem
    refused(ws.patch(f"/api/v1/visits/{world['visits']['ws']}", json={"hazards": hazards}), 400)
    assert counts(db) == before

    form: list[tuple[str, str]] = [(k, str(v)) for k, v in base.items()] + [("csrf_token", ws.csrf)]
    many_answers = form + [(f"checklist[item_{n}]", "ok") for n in range(200_000)]
    many_hazards = form + [(f"hazards[{n}][description]", f"隐患{n}") for n in range(20_000)]
    for fields, field in ((many_answers, "checklist"), (many_hazards, "hazards")):
        answer = ws.post("/visits", content=urlencode(fields), headers=FORM, follow_redirects=False)
        assert answer.status_code == 422, answer.text[:300]
        assert re.search(rf'id="e-{field}"[^>]*>[^<]*最多', answer.text) or "最多" in answer.text
        assert len(answer.text) < 500_000  # the form shown again is not 20,000 rows long
    assert counts(db) == before
    # Within the bounds the same visit is taken.
    fine = {**base, "hazards": hazards[:100], "checklist": {"fire_safety": "ok"}}
    assert ws.post("/api/v1/visits", json=fine).status_code == 201


# --- every page form, sent what no browser sends -----------------------------------------------------------------

def page_forms(world: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    """(who, where, a form that page takes) for each page that takes a form."""
    ws_case, sh_case = world["cases"]["ws"], world["cases"]["sh"]
    application, bulletin = world["applications"]["sh"], world["bulletins"]["all"]
    return [
        ("workstation_1", "/cases/new", {"enterprise_id": str(world["enterprises"]["ws"]), "channel": "platform",
                                         "category": "economic_dispute", "urgency": "urgent", "jurisdiction": "local",
                                         "title": "表单", "description": "d", "details.amount": "100"}),
        ("workstation_1", f"/cases/{ws_case}/events", {"kind": "comment", "note": "备注", "satisfaction": "3"}),
        ("office", f"/cases/{sh_case}/dispatch", {"lead": "criminal-investigation", "co": "economic-crime"}),
        ("office", f"/cases/{sh_case}/plan", {"step": "report", "note": "n"}),
        ("office", "/cases/routing", {"economic_dispute.lead": "economic-crime", "economic_dispute.co": "legal"}),
        ("subcenter_sh", "/visits", {"enterprise_id": str(world["enterprises"]["ws"]),
                                      "visited_at": "2026-11-01T10:00", "kind": "safety", "findings": "f",
                                      "hazards[0][description]": "h", "hazards[0][severity]": "low",
                                      "checklist[fire_safety]": "ok", "attendance": "3", "latitude": "31.2",
                                      "longitude": "121.5"}),
        ("office", "/visits/settings", {"item_key": "fire_safety", "item_label": "消防", "item_label_en": "Fire",
                                        "cadence_high": "30", "cadence_medium": "90", "cadence_low": "180"}),
        ("subcenter_sh", "/applications/new", {"kind": "workstation", "name": "表单工作站", "region_code": "310115",
                                               "parent_node": "sc-shanghai", "head_name": "钱站长",
                                               "head_phone": "13900000008", "reason": "r",
                                               "host_enterprise_id": str(world["enterprises"]["sh"])}),
        ("subcenter_sh", f"/applications/{application}/edit", {"name": "改名工作站", "reason": "r"}),
        ("office", f"/applications/{application}/comment", {"comment": "c"}),
        ("office", f"/applications/{application}/decision", {"decision": "return", "comment": "c"}),
        ("office", "/bulletins/new", {"kind": "news", "title": "t", "body": "b", "severity": "info",
                                      "targets.nodes": "sc-shanghai", "publish": "0"}),
        ("office", f"/bulletins/{bulletin}/remind", {"nodes": "sc-shanghai"}),
        ("workstation_1", f"/bulletins/{bulletin}/ack", {}),
    ]


HOSTILE_VALUES = ("9" * 25, "-9223372036854775809", "长" * 25_000, "before\x00after", "1e308", "not-a-uuid")


def test_no_page_form_answers_what_no_browser_sends_with_a_server_error(clients: Any, db: Database,
                                                                        world: dict[str, Any]) -> None:
    failures: list[str] = []
    for who, path, good in page_forms(world):
        client = clients(who)
        cases: list[tuple[str, list[tuple[str, str]]]] = [("nothing", [])]
        for name in good:
            others = [(k, v) for k, v in good.items() if k != name]
            cases.append((f"without {name}", others))
            cases.append((f"{name} twice", others + [(name, good[name]), (name, good[name] + "x")]))
            cases += [(f"{name}={value[:12]!r}", others + [(name, value)]) for value in HOSTILE_VALUES]
        for label, fields in cases:
            before = counts(db)
            answer = client.post(path, content=urlencode(fields + [("csrf_token", client.csrf)]), headers=FORM,
                                 follow_redirects=False)
            where = f"POST {path} [{label}] as {who}"
            if answer.status_code >= 500:
                failures.append(f"{where}: {answer.status_code}")
            elif answer.status_code >= 400 and counts(db) != before:
                failures.append(f"{where}: refused with {answer.status_code} but wrote rows")
    assert not failures, "\n".join(failures)


QUERY_VALUES = ("9223372036854775808", "-1", "\x00", "x" * 5_000, "not-a-uuid")
PG_QUERY_VALUES = ("9223372036854775808", "\x00")


def page_routes(app: Any, world: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """Every page (GET, outside the API, which test_api_fuzz covers) with the query parameters its handler reads."""
    ids = {"enterprise_id": world["enterprises"]["ws"], "visit_id": world["visits"]["ws"],
           "case_id": world["cases"]["ws"], "application_id": world["applications"]["sh"],
           "bulletin_id": world["bulletins"]["all"], "attachment_id": "00000000-0000-0000-0000-000000000000"}
    found = []
    for route in app.routes:
        if route.path.startswith(("/api/", "/static", "/schema")) or route.path in ("/oauth/logout", "/logout"):
            continue
        for handler in getattr(route, "route_handlers", []):
            if "GET" not in (handler.http_methods or ()):
                continue
            path = re.sub(r"\{(\w+):\w+\}", lambda m: str(ids.get(m.group(1), "x")), route.path)
            params = [name for name in handler.parsed_fn_signature.parameters
                      if name not in ("request", "principal") and "{" + name not in route.path]
            found.append((path, params))
    return found


def test_no_page_answers_hostile_query_parameters_with_a_server_error(clients: Any, world: dict[str, Any],
                                                                      db_kind: str) -> None:
    values = PG_QUERY_VALUES if db_kind == "postgresql" else QUERY_VALUES
    failures: list[str] = []
    for who in ("office", "workstation_1"):
        client = clients(who)
        routes = page_routes(client.http.app, world)
        assert any(path == "/visits" and "offset" in params for path, params in routes), routes
        for path, params in routes:
            for name in params:
                for value in values:
                    answer = client.get(path, params={name: value}, headers=HTML, follow_redirects=False)
                    if answer.status_code >= 500:
                        failures.append(f"GET {path} [{name}={value[:12]!r}] as {who}: {answer.status_code}")
    assert not failures, "\n".join(failures)
