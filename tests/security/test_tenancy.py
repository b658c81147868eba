"""Tenancy, proven from outside: for every JSON endpoint and every demo account, a row of another tenant
answers 404 (never 403, never a hint that it exists), lists and searches hold only rows in scope, refused
writes leave everything as it was, and personal data is masked for roles that do not need it.

The expectations below are written out by hand from the contract and the design notes (roles and tenancy) and
do not look at common/policy.py, so a change of the rules there shows up here as a failure.
"""
from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select, table

from common.db import Database
from common.models import Base
from common.settings import Settings
from common.validation import make_credit_code, make_id_number
from common.web.auth import cookie_names

PROBLEM = "application/problem+json"
TENANTS = ("sh", "sz", "ws", "hub")  # the order the `world` fixture builds them in
NODES = ("hub", "sc-shanghai", "sc-suzhou", "ws-demo-1")
USERS = ("office", "leader", "liaison_xz", "liaison_jz", "subcenter_sh", "subcenter_sz", "workstation_1")
RESOURCES = ("enterprises", "people", "cases", "visits", "bulletins", "applications", "nodes")

# --- who sees what: world keys per resource (enterprise/person/case/visit keys are tenants; bulletins are
# "all" (addressed to everyone) and "sz" (to sc-suzhou only); applications by subcenter_sh / subcenter_sz) ---

_ALL_NODES = "hub sc-shanghai sc-suzhou ws-demo-1"
_SH_LINE = "hub sc-shanghai ws-demo-1"
#                   enterprises     people          cases           visits      bulletins applications nodes
_TABLE = {
    "office":        ("sh sz ws hub", "sh sz ws hub", "sh sz ws hub", "sh sz ws", "all sz",  "sh sz",      _ALL_NODES),
    "leader":        ("sh sz ws hub", "sh sz ws hub", "sh sz ws hub", "sh sz ws", "all sz",  "sh sz",      _ALL_NODES),
    "liaison_xz":    ("sh",           "sh",           "sh",           "",         "all sz",  "",           _ALL_NODES),
    "liaison_jz":    ("",             "",             "",             "",         "all sz",  "",           _ALL_NODES),
    "subcenter_sh":  ("sh ws",        "sh ws",        "sh ws",        "sh ws",    "all",     "sh",         _SH_LINE),
    "subcenter_sz":  ("sz",           "sz",           "sz",           "sz",       "all sz",  "sz",         "hub sc-suzhou"),
    "workstation_1": ("ws",           "ws",           "ws",           "ws",       "all",     "",           _SH_LINE),
}
SEES: dict[str, dict[str, frozenset[str]]] = {
    user: {resource: frozenset(keys.split()) for resource, keys in zip(RESOURCES, row)} for user, row in _TABLE.items()
}

# Who sees personal data in full (the police roles see ID numbers; phones also the sub-center).
# Personal data is masked to every role; the police roles may ask to see one record in full, with a reason.
ID_NUMBER_IN_FULL: frozenset[str] = frozenset()
PHONE_IN_FULL: frozenset[str] = frozenset()
MAY_REVEAL = frozenset({"office", "leader", "liaison_xz", "liaison_jz"})

# A valid body for each per-row PATCH, so that nothing but the scope can refuse it.
PATCH_BODY: dict[str, dict[str, Any]] = {
    "enterprises": {"name": "越权改名有限公司"}, "people": {"position": "越权"}, "cases": {"title": "越权改标题"},
    "visits": {"findings": "越权"}, "bulletins": {"title": "越权"}, "applications": {"reason": "越权"},
    "nodes": {"name": "越权"}, "users": {"active": False}, "units": {"name": "越权"},
    "info-reports": {"title": "越权"}, "key-persons": {"notes": "越权"},
    "meetings": {"minutes": "越权"},
    "reports": {"analysis": "越权"},
}
HAS_DELETE = frozenset({"enterprises", "people", "visits", "bulletins"})
# Actions on one row beyond GET/PATCH/DELETE: (method, suffix, body).
ROW_ACTIONS: dict[str, list[tuple[str, str, dict[str, Any] | None]]] = {
    "cases": [("GET", "/events", None), ("POST", "/events", {"kind": "comment", "note": "越权"})],
    "bulletins": [("POST", "/ack", None), ("POST", "/remind", None)],
    "applications": [("POST", "/decision", {"decision": "approve", "comment": "越权"})],
}

# Every JSON endpoint, checked against the OpenAPI document below so a new one cannot be missed.
ROUTES: list[tuple[str, str]] = [
    ("GET", "/api/v1/enterprises"), ("POST", "/api/v1/enterprises"),
    ("GET", "/api/v1/enterprises/{enterprise_id}"), ("PATCH", "/api/v1/enterprises/{enterprise_id}"),
    ("DELETE", "/api/v1/enterprises/{enterprise_id}"), ("POST", "/api/v1/enterprises/import"),
    ("GET", "/api/v1/people"), ("POST", "/api/v1/people"),
    ("GET", "/api/v1/people/{person_id}"), ("PATCH", "/api/v1/people/{person_id}"), ("DELETE", "/api/v1/people/{person_id}"),
    ("POST", "/api/v1/people/{person_id}/reveal"), ("POST", "/api/v1/enterprises/{enterprise_id}/reveal"),
    ("POST", "/api/v1/cases/{case_id}/reveal"), ("GET", "/api/v1/audit"),
    ("POST", "/api/v1/applications/{application_id}/reveal"),
    ("GET", "/api/v1/cases"), ("POST", "/api/v1/cases"),
    ("GET", "/api/v1/cases/{case_id}"), ("PATCH", "/api/v1/cases/{case_id}"),
    ("GET", "/api/v1/cases/{case_id}/events"), ("POST", "/api/v1/cases/{case_id}/events"),
    ("GET", "/api/v1/visits"), ("POST", "/api/v1/visits"),
    ("GET", "/api/v1/visits/{visit_id}"), ("PATCH", "/api/v1/visits/{visit_id}"), ("DELETE", "/api/v1/visits/{visit_id}"),
    ("GET", "/api/v1/bulletins"), ("POST", "/api/v1/bulletins"),
    ("GET", "/api/v1/bulletins/{bulletin_id}"), ("PATCH", "/api/v1/bulletins/{bulletin_id}"),
    ("DELETE", "/api/v1/bulletins/{bulletin_id}"), ("POST", "/api/v1/bulletins/{bulletin_id}/ack"),
    ("POST", "/api/v1/bulletins/{bulletin_id}/remind"),
    ("GET", "/api/v1/applications"), ("POST", "/api/v1/applications"),
    ("GET", "/api/v1/applications/{application_id}"), ("PATCH", "/api/v1/applications/{application_id}"),
    ("POST", "/api/v1/applications/{application_id}/decision"),
    ("GET", "/api/v1/nodes"), ("GET", "/api/v1/nodes/{node_id}"), ("PATCH", "/api/v1/nodes/{node_id}"),
    ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/users"), ("POST", "/api/v1/users"),
    ("GET", "/api/v1/users/{user_id}"), ("PATCH", "/api/v1/users/{user_id}"),
    ("GET", "/api/v1/units"), ("POST", "/api/v1/units"), ("PATCH", "/api/v1/units/{unit_id}"),
    ("GET", "/api/v1/notifications"), ("POST", "/api/v1/notifications/{notification_id}/read"),
    ("GET", "/api/v1/settings/deadlines"), ("PUT", "/api/v1/settings/deadlines"),
    ("GET", "/api/v1/deliveries"),
    ("GET", "/api/v1/info-reports"), ("POST", "/api/v1/info-reports"),
    ("GET", "/api/v1/info-reports/{report_id}"), ("PATCH", "/api/v1/info-reports/{report_id}"),
    ("POST", "/api/v1/info-reports/{report_id}/review"),
    ("GET", "/api/v1/tasks"), ("POST", "/api/v1/tasks"), ("GET", "/api/v1/tasks/{task_id}"),
    ("POST", "/api/v1/tasks/{task_id}/feedback"), ("POST", "/api/v1/tasks/{task_id}/decision"),
    ("GET", "/api/v1/key-persons"), ("POST", "/api/v1/key-persons"),
    ("GET", "/api/v1/key-persons/{key_person_id}"), ("PATCH", "/api/v1/key-persons/{key_person_id}"),
    ("DELETE", "/api/v1/key-persons/{key_person_id}"), ("POST", "/api/v1/key-persons/{key_person_id}/follow-ups"),
    ("POST", "/api/v1/key-persons/{key_person_id}/reveal"),
    ("GET", "/api/v1/meetings"), ("POST", "/api/v1/meetings"),
    ("GET", "/api/v1/meetings/{meeting_id}"), ("PATCH", "/api/v1/meetings/{meeting_id}"),
    ("GET", "/api/v1/surveys"), ("POST", "/api/v1/surveys"),
    ("GET", "/api/v1/surveys/{survey_id}"), ("POST", "/api/v1/surveys/{survey_id}/answer"),
    ("GET", "/api/v1/reports"), ("POST", "/api/v1/reports"), ("GET", "/api/v1/reports/{report_id}"),
    ("PATCH", "/api/v1/reports/{report_id}"), ("POST", "/api/v1/reports/{report_id}/bulletin"),
]

# Tables whose row counts a refused request must leave alone (the audit trail, login sessions and the counters of
# logins and searches may grow).
_COUNTED = [t.name for t in Base.metadata.sorted_tables
            if t.name not in {"audit_entry", "audit_head", "web_session", "login_throttle"}]


# --- helpers ---------------------------------------------------------------------------------------------------

def row_ids(world: dict[str, Any], resource: str) -> dict[str, str]:
    """World key → id (as the API spells it) of every row of `resource` that the world holds."""
    if resource == "nodes":
        return {node: node for node in NODES}
    return {key: str(value) for key, value in world[resource].items() if value is not None}


def missing_id(resource: str) -> str:
    return "sc-nowhere" if resource == "nodes" else str(uuid.uuid4())


def known_person(key: str) -> tuple[str, str]:
    """The ID number and phone the `world` fixture gives the person of tenant `key`."""
    n = TENANTS.index(key)
    return make_id_number("320681", date(1980, 1, n + 1), 901), f"1380000000{n}"


def masked_id(number: str) -> str:
    return number[:6] + "*" * 8 + number[-4:]


def masked_phone(number: str) -> str:
    return number[:3] + "****" + number[-4:]


def call(client: Any, method: str, url: str, body: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    if body is None:
        return client.request(method, url, **kwargs)
    return client.request(method, url, json=body, **kwargs)


def ids_of(response: Any) -> set[str]:
    assert response.status_code == 200, (response.request.method, str(response.request.url), response.text)
    return {item["id"] for item in response.json()["items"]}


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    where = (response.request.method, str(response.request.url), response.status_code, response.text[:300])
    assert response.status_code == status, where
    assert response.headers["content-type"].startswith(PROBLEM), where
    body = response.json()
    assert body["status"] == status, where
    return body


def assert_same_problem(response: Any, reference: Any, status: int) -> None:
    """The answer about another tenant's row reads exactly like the answer about a row that does not exist."""
    body, ref = assert_problem(response, status), assert_problem(reference, status)
    body.pop("instance", None)
    ref.pop("instance", None)
    assert body == ref


def row_counts(db: Database) -> dict[str, int]:
    with db.reads() as session:
        return {name: session.scalar(select(func.count()).select_from(table(name))) or 0 for name in _COUNTED}


def snapshot(office: Any, db: Database, resources: tuple[str, ...] = RESOURCES) -> dict[str, Any]:
    """`resources` as the office sees them (with every case's timeline), and the row count of every domain table.

    Soft deletes and edits show in the office's lists, inserts (rows, events, acknowledgements, nodes) in the counts.
    """
    snap: dict[str, Any] = {}
    for resource in resources:
        response = office.get(f"/api/v1/{resource}", params={"limit": 200})
        assert response.status_code == 200, response.text
        snap[resource] = {item["id"]: item for item in response.json()["items"]}
    if "cases" in snap:
        snap["events"] = {case_id: office.get(f"/api/v1/cases/{case_id}/events").json() for case_id in snap["cases"]}
    snap["counts"] = row_counts(db)
    return snap


def search_params(resource: str, item: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(searches that match only this row, filters that select this row among others) for one row."""
    if resource == "enterprises":
        return [{"q": item["name"]}, {"q": item["credit_code"]}, {"q": item["credit_code"].lower()}], [{"node": item["node"]}]
    if resource == "people":
        # Shown masked to everyone: the exact search is by the number the world fixture gave (张sh → tenant sh).
        return [{"q": item["name"]}, {"q": known_person(item["name"][1:])[0]}], [{"enterprise_id": item["enterprise_id"]}]
    if resource == "cases":
        return ([{"q": item["title"]}, {"q": item["number"]}],
                [{"enterprise_id": item["enterprise_id"]}, {"node": item["node"]}])
    if resource == "visits":
        return [], [{"enterprise_id": item["enterprise_id"]}, {"node": item["node"]}]
    if resource in ("bulletins",):
        return [{"q": item["title"]}], []
    if resource == "applications":
        return [{"q": item["name"]}], []
    return [{"q": item["id"]}, {"q": item["name"]}], [{"parent": item["parent"]}] if item["parent"] else []


# Searches that match every row of the world's kind (short terms, longer ones, pinyin and its initials, which the
# roster search serves by different paths): each account finds exactly its rows in scope.
BROAD_SEARCHES: dict[str, list[str]] = {
    "enterprises": ["启东", "启东测试", "建设工程有限公司", "qidong", "qidongceshi", "qdcs"],
    "people": ["张"], "cases": ["工程款纠纷"], "applications": ["工作站"],
}


# --- the table itself ------------------------------------------------------------------------------------------

def test_the_expectation_table_covers_every_account_and_row(world: dict[str, Any]) -> None:
    from hub.seed import ACCOUNTS

    assert set(USERS) == set(SEES) == {account[0] for account in ACCOUNTS}
    for user in USERS:
        for resource in RESOURCES:
            assert SEES[user][resource] <= set(row_ids(world, resource)), (user, resource)


def test_every_json_endpoint_is_in_the_route_table(clients: Any) -> None:
    schema = clients().get("/schema/openapi.json").json()
    # The sync API is for nodes' own credentials, not people: tests/identity/test_spoke_identity.py and the sync tests cover it.
    documented = {(method.upper(), path) for path, item in schema["paths"].items()
                  if path.startswith("/api/") and not path.startswith("/api/v1/sync/")
                  for method in item if method in {"get", "post", "put", "patch", "delete"}}
    assert documented == set(ROUTES)
    assert {"/api/v1/sync/enroll", "/api/v1/sync/address", "/api/v1/sync/directory"} <= set(schema["paths"])


# --- (1)–(4): lists, reads, writes and searches per account and resource -----------------------------------------

def check_scope(username: str, resource: str, user: Any, office: Any, world: dict[str, Any], db: Database) -> None:
    """Everything (1)–(4) asks of one resource as seen by one account; every message names both."""
    where = (username, resource)
    rows = row_ids(world, resource)
    inside = {rows[key] for key in SEES[username][resource]}
    outside = {rows[key] for key in rows if key not in SEES[username][resource]}
    before = snapshot(office, db, (resource,))
    base = f"/api/v1/{resource}"

    # (1) The list holds exactly the rows in scope.
    assert ids_of(user.get(base, params={"limit": 200})) == inside, where

    # (2) Each row in scope reads; each row outside reads exactly like one that does not exist.
    nowhere = f"{base}/{missing_id(resource)}"
    for row_id in sorted(inside):
        response = user.get(f"{base}/{row_id}")
        assert response.status_code == 200, (where, row_id, response.text)
        assert response.json()["id"] == row_id, where
        for method, suffix, _ in ROW_ACTIONS.get(resource, []):
            if method == "GET":
                assert user.get(f"{base}/{row_id}{suffix}").status_code == 200, (where, suffix)
    for row_id in sorted(outside):
        assert_same_problem(user.get(f"{base}/{row_id}"), user.get(nowhere), 404)

    # (3) Writes and actions aimed at a row outside scope: 404, as for a row that does not exist.
    for row_id in sorted(outside):
        attempts = [("PATCH", "", PATCH_BODY[resource])]
        if resource in HAS_DELETE:
            attempts.append(("DELETE", "", None))
        attempts += ROW_ACTIONS.get(resource, [])
        for method, suffix, body in attempts:
            assert_same_problem(call(user, method, f"{base}/{row_id}{suffix}", body),
                                call(user, method, f"{nowhere}{suffix}", body), 404)

    # (4) Searching for a row outside scope by what identifies it finds nothing; filters never reach it.
    for row_id in sorted(outside):
        exact, filters = search_params(resource, before[resource][row_id])
        for params in exact:
            assert row_id in ids_of(office.get(base, params={**params, "limit": 200})), (where, params)  # the search works
            assert ids_of(user.get(base, params={**params, "limit": 200})) == set(), (where, params)
        for params in filters:
            assert row_id in ids_of(office.get(base, params={**params, "limit": 200})), (where, params)
            assert ids_of(user.get(base, params={**params, "limit": 200})) <= inside, (where, params)

    for term in BROAD_SEARCHES.get(resource, []):
        assert ids_of(office.get(base, params={"q": term, "limit": 200})) == set(rows.values()), (where, term)
        assert ids_of(user.get(base, params={"q": term, "limit": 200})) == inside, (where, term)

    # Nothing was written: every row of the resource, every timeline, every table's row count as before.
    assert snapshot(office, db, (resource,)) == before, where


# One test per account (the world is built per test, so the seven resources share it); a failure names both.
@pytest.mark.parametrize("username", USERS)
def test_scope_of_every_resource(username: str, clients: Any, world: dict[str, Any], db: Database) -> None:
    user, office = clients(username), clients("office")
    for resource in RESOURCES:
        check_scope(username, resource, user, office, world, db)


def test_a_liaison_sees_what_is_dispatched_to_its_unit(clients: Any, world: dict[str, Any]) -> None:
    jz, office = clients("liaison_jz"), clients("office")
    sz = {resource: str(world[resource]["sz"]) for resource in ("enterprises", "people", "cases")}
    for resource in sz:
        assert ids_of(jz.get(f"/api/v1/{resource}")) == set()
        assert_problem(jz.get(f"/api/v1/{resource}/{sz[resource]}"), 404)
    for event in ({"kind": "accepted"}, {"kind": "dispatched", "unit": "economic-crime"}):
        assert office.post(f"/api/v1/cases/{sz['cases']}/events", json=event).status_code in (200, 201)
    for resource in sz:
        assert ids_of(jz.get(f"/api/v1/{resource}")) == {sz[resource]}
        assert jz.get(f"/api/v1/{resource}/{sz[resource]}").status_code == 200
    assert ids_of(jz.get("/api/v1/visits")) == set()  # dispatch opens the case, not the sub-center's visits


# --- (5) unauthenticated ---------------------------------------------------------------------------------------

def _create_bodies(world: dict[str, Any]) -> dict[str, dict[str, Any]]:
    sh = str(world["enterprises"]["sh"])
    return {
        "/api/v1/enterprises": {"name": "越权新增有限公司", "credit_code": make_credit_code("9", "1", "310115", "00000099"),
                                "region_code": "310115"},
        "/api/v1/people": {"enterprise_id": sh, "name": "越权"},
        "/api/v1/cases": {"channel": "platform", "category": "other", "title": "越权"},
        "/api/v1/visits": {"enterprise_id": sh, "visited_at": "2026-11-02T10:00:00"},
        "/api/v1/bulletins": {"kind": "news", "title": "越权", "body": "越权"},
        "/api/v1/applications": {"kind": "workstation", "name": "越权工作站", "region_code": "310115",
                                 "parent_node": "sc-shanghai", "host_enterprise_id": sh, "head_name": "越权",
                                 "head_phone": "13900000009"},
        "/api/v1/cases/{case_id}/events": {"kind": "comment", "note": "越权"},
        "/api/v1/users": {"username": "yueqian", "name": "越权", "role": "office"},
        "/api/v1/applications/{application_id}/decision": {"decision": "approve", "comment": "越权"},
        "/api/v1/info-reports": {"title": "越权"},
        "/api/v1/info-reports/{report_id}/review": {"decision": "adopted"},
        "/api/v1/tasks": {"title": "越权", "owner_unit": "legal"},
        "/api/v1/tasks/{task_id}/feedback": {"feedback": "越权"},
        "/api/v1/tasks/{task_id}/decision": {"action": "accept"},
        "/api/v1/key-persons": {"name": "越权"},
        "/api/v1/key-persons/{key_person_id}/follow-ups": {"text": "越权"},
        "/api/v1/key-persons/{key_person_id}/reveal": {"reason": "越权"},
        "/api/v1/meetings": {"kind": "semiannual"},
        "/api/v1/surveys": {"year": 2026},
        "/api/v1/surveys/{survey_id}/answer": {"ratings": {"q1": 5}},
    }


def test_unauthenticated_calls_answer_401(clients: Any, world: dict[str, Any], db: Database, settings: Settings) -> None:
    office = clients("office")
    before = snapshot(office, db)
    ids = {"enterprise_id": world["enterprises"]["sh"], "person_id": world["people"]["sh"], "case_id": world["cases"]["sh"],
           "visit_id": world["visits"]["sh"], "bulletin_id": world["bulletins"]["all"],
           "application_id": world["applications"]["sh"], "node_id": "sc-shanghai",
           "user_id": world["users"]["subcenter_sh"], "unit_id": "criminal-investigation",
           "notification_id": uuid.uuid4(), "report_id": uuid.uuid4(), "task_id": uuid.uuid4(),
           "key_person_id": uuid.uuid4(), "meeting_id": uuid.uuid4(), "survey_id": uuid.uuid4()}
    creates = _create_bodies(world)
    anonymous = clients()
    session_cookie = cookie_names(settings)["session"]
    for method, template in ROUTES:
        body = creates.get(template)
        if body is None and method == "PATCH":
            body = PATCH_BODY[template.split("/")[3]]
        url = template.format(**{k: str(v) for k, v in ids.items()})
        for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Cookie": f"{session_cookie}=forged-or-expired"}):
            response = call(anonymous, method, url, body, headers=headers)
            assert_problem(response, 401)
            assert response.headers.get("www-authenticate"), (method, url, headers)
    assert snapshot(office, db) == before


# --- (6) personal data ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("username", USERS)
def test_personal_data_is_masked_for_roles_that_do_not_need_it(username: str, clients: Any, world: dict[str, Any]) -> None:
    office, user = clients("office"), clients(username)
    ws_enterprise = world["enterprises"]["ws"]
    assert office.patch(f"/api/v1/enterprises/{ws_enterprise}", json={"contact_phone": "13912345678"}).status_code == 200

    listed = user.get("/api/v1/people", params={"limit": 200})
    by_id = {item["id"]: item for item in listed.json()["items"]}
    for key in sorted(SEES[username]["people"]):
        id_number, phone = known_person(key)
        want_id = id_number if username in ID_NUMBER_IN_FULL else masked_id(id_number)
        want_phone = phone if username in PHONE_IN_FULL else masked_phone(phone)
        one = user.get(f"/api/v1/people/{world['people'][key]}")
        for shown in (one.json(), by_id[str(world["people"][key])]):
            assert (shown["id_number"], shown["phone"]) == (want_id, want_phone), (username, key)
        for text in (one.text, listed.text):
            assert (id_number in text) == (username in ID_NUMBER_IN_FULL), (username, key)
            if username not in PHONE_IN_FULL:
                assert phone not in text
    if "ws" in SEES[username]["enterprises"]:
        shown = user.get(f"/api/v1/enterprises/{ws_enterprise}").json()["contact_phone"]
        assert shown == ("13912345678" if username in PHONE_IN_FULL else "139****5678")
    # A look in full: the police roles, with a reason, at a person in their scope; anyone else is refused.
    for key in sorted(SEES[username]["people"]):
        id_number, phone = known_person(key)
        looked = user.post(f"/api/v1/people/{world['people'][key]}/reveal", json={"reason": "核对来电人身份"})
        if username in MAY_REVEAL:
            assert looked.status_code == 200, (username, key, looked.text)
            assert (looked.json()["id_number"], looked.json()["phone"]) == (id_number, phone)
        else:
            assert looked.status_code == 403, (username, key, looked.text)
            assert id_number not in looked.text and phone not in looked.text
    heads = {"sh": "13900000001", "sz": "13900000002"}  # the head_phone of each application in the world
    for key in sorted(SEES[username]["applications"]):
        shown = user.get(f"/api/v1/applications/{world['applications'][key]}").json()["head_phone"]
        assert shown == (heads[key] if username in PHONE_IN_FULL else masked_phone(heads[key])), (username, key)


def test_sending_back_a_masked_value_keeps_the_stored_number(clients: Any, world: dict[str, Any], db: Database) -> None:
    from common.models import Enterprise, NodeApplication, Person

    office = clients("office")

    def stored(model: Any, row_id: Any, *fields: str) -> tuple[Any, ...]:
        with db.reads() as session:
            row = session.get(model, uuid.UUID(str(row_id)))
            return tuple(getattr(row, name) for name in fields)

    # A sub-center sees both masked, as everyone does; it edits the position and sends both back.
    sh = f"/api/v1/people/{world['people']['sh']}"
    id_number, phone = stored(Person, world["people"]["sh"], "id_number", "phone")
    shown = clients("subcenter_sh").get(sh).json()
    assert (shown["id_number"], shown["phone"]) == (masked_id(id_number), masked_phone(phone))
    response = clients("subcenter_sh").patch(sh, json={"name": shown["name"], "id_number": shown["id_number"],
                                                       "phone": shown["phone"], "position": "安全员"})
    assert response.status_code == 200, response.text
    assert response.json()["id_number"] == shown["id_number"]
    assert stored(Person, world["people"]["sh"], "id_number", "phone", "position") == (id_number, phone, "安全员")

    # The enterprise role sees both masked and sends both back.
    ws_role = clients("workstation_1")
    ws = f"/api/v1/people/{world['people']['ws']}"
    id_number, phone = stored(Person, world["people"]["ws"], "id_number", "phone")
    shown = ws_role.get(ws).json()
    assert (shown["id_number"], shown["phone"]) == (masked_id(id_number), masked_phone(phone))
    response = ws_role.patch(ws, json={"id_number": shown["id_number"], "phone": shown["phone"], "position": "办公室主任"})
    assert response.status_code == 200, response.text
    assert stored(Person, world["people"]["ws"], "id_number", "phone", "position") == (id_number, phone, "办公室主任")

    # The same for the enterprise's contact phone and an application's head phone, which it also sees masked.
    enterprise = f"/api/v1/enterprises/{world['enterprises']['ws']}"
    assert office.patch(enterprise, json={"contact_phone": "13912345678"}).status_code == 200
    shown = ws_role.get(enterprise).json()
    assert shown["contact_phone"] == "139****5678"
    response = ws_role.patch(enterprise, json={"contact_phone": shown["contact_phone"], "address": "新地址2号"})
    assert response.status_code == 200, response.text
    assert stored(Enterprise, world["enterprises"]["ws"], "contact_phone", "address") == ("13912345678", "新地址2号")
    created = ws_role.post("/api/v1/applications", json={
        "kind": "workstation", "name": "启东建工浦东二号工作站", "region_code": "310115", "parent_node": "sc-shanghai",
        "host_enterprise_id": str(world["enterprises"]["ws"]), "head_name": "赵站长", "head_phone": "13900000003"})
    assert created.status_code == 201, created.text
    application = f"/api/v1/applications/{created.json()['id']}"
    assert created.json()["head_phone"] == "139****0003"
    response = ws_role.patch(application, json={"head_phone": "139****0003", "reason": "扩大服务范围"})
    assert response.status_code == 200, response.text
    assert stored(NodeApplication, created.json()["id"], "head_phone", "reason") == ("13900000003", "扩大服务范围")

    # A masked form that is not the stored one is no number at all: refused, nothing changed.
    before = snapshot(office, db)
    body = assert_problem(ws_role.patch(ws, json={"id_number": id_number[:6] + "*" * 8 + "0000"}), 422)
    assert [e["field"] for e in body["errors"]] == ["id_number"]
    body = assert_problem(ws_role.patch(ws, json={"phone": "139****0000"}), 422)
    assert [e["field"] for e in body["errors"]] == ["phone"]
    assert snapshot(office, db) == before


# --- (7) writes a role may not make -------------------------------------------------------------------------

def test_writes_a_role_may_not_make_are_refused_and_write_nothing(clients: Any, world: dict[str, Any], db: Database) -> None:
    office = clients("office")
    before = snapshot(office, db)
    xz, sub_sh, ws = clients("liaison_xz"), clients("subcenter_sh"), clients("workstation_1")
    ent = {key: str(value) for key, value in world["enterprises"].items()}
    new_enterprise = {"name": "越权新增有限公司", "credit_code": make_credit_code("9", "1", "310115", "00000099"),
                      "region_code": "310115"}

    # The roster is kept by the office and the sub-centers: a liaison adds nothing, anywhere.
    assert_problem(xz.post("/api/v1/enterprises", json=new_enterprise), 403)
    assert_problem(xz.post("/api/v1/enterprises", json={**new_enterprise, "node": "sc-shanghai"}), 403)
    # The workstation may not add enterprises, least of all under another sub-center.
    assert_problem(ws.post("/api/v1/enterprises", json={**new_enterprise, "node": "sc-suzhou"}), 403)
    assert_problem(ws.post("/api/v1/enterprises", json={**new_enterprise, "node": "ws-demo-1"}), 403)
    # A sub-center may not place an enterprise in another sub-center's subtree, nor move its own there.
    assert_problem(sub_sh.post("/api/v1/enterprises", json={**new_enterprise, "node": "sc-suzhou"}), 403)
    assert_problem(sub_sh.patch(f"/api/v1/enterprises/{ent['sh']}", json={"node": "sc-suzhou"}), 403)

    # Rows hung on another tenant's row: refused exactly as for a row that does not exist, naming the field.
    def refused_like_missing(client: Any, path: str, body: dict[str, Any], field: str, method: str = "POST",
                             other: str = ent["sz"], missing: str | None = None) -> None:
        out_of_scope = call(client, method, path, {**body, field: other})
        nowhere = call(client, method, path, {**body, field: missing or str(uuid.uuid4())})
        assert_same_problem(out_of_scope, nowhere, 422)
        assert [e["field"] for e in out_of_scope.json()["errors"]] == [field]

    new_case = {"channel": "platform", "category": "other", "title": "越权"}
    refused_like_missing(sub_sh, "/api/v1/people", {"name": "越权"}, "enterprise_id")
    refused_like_missing(sub_sh, "/api/v1/visits", {"visited_at": "2026-11-02T10:00:00"}, "enterprise_id")
    refused_like_missing(sub_sh, "/api/v1/cases", new_case, "enterprise_id")
    refused_like_missing(ws, "/api/v1/people", {"name": "越权"}, "enterprise_id")
    refused_like_missing(ws, "/api/v1/cases", new_case, "enterprise_id")
    # ...nor named as the host of a proposed workstation, when applying or when editing an application.
    application = {"kind": "workstation", "name": "越权工作站", "region_code": "320505", "parent_node": "sc-shanghai",
                   "head_name": "越权", "head_phone": "13900000009"}
    refused_like_missing(sub_sh, "/api/v1/applications", application, "host_enterprise_id")
    refused_like_missing(sub_sh, f"/api/v1/applications/{world['applications']['sh']}", {}, "host_enterprise_id",
                         method="PATCH")
    # The workstation's own parent's enterprise is not the workstation's.
    refused_like_missing(ws, "/api/v1/people", {"name": "越权"}, "enterprise_id", other=ent["sh"])
    refused_like_missing(ws, "/api/v1/cases", new_case, "enterprise_id", other=ent["sh"])
    # An application may not hang a new node under a sub-center outside the applicant's line.
    refused_like_missing(sub_sh, "/api/v1/applications", {**application, "host_enterprise_id": ent["sh"]}, "parent_node",
                         other="sc-suzhou", missing="sc-nowhere")

    # Roles that may see a row but not do this to it: 403.
    assert_problem(xz.post("/api/v1/visits", json={"enterprise_id": ent["sh"], "visited_at": "2026-11-02T10:00:00"}), 403)
    assert_problem(xz.post("/api/v1/cases", json={**new_case, "enterprise_id": ent["sh"]}), 403)
    for client in (xz, sub_sh, ws):
        assert_problem(client.post("/api/v1/bulletins", json={"kind": "news", "title": "越权", "body": "越权"}), 403)
    assert_problem(sub_sh.post(f"/api/v1/applications/{world['applications']['sh']}/decision",
                               json={"decision": "approve", "comment": "越权"}), 403)

    assert snapshot(office, db) == before
