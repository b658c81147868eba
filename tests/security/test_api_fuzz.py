"""Every operation of the OpenAPI schema, sent hostile input: never a 5xx, and a refused write changes nothing.

The requests are generated from the hub's own schema (so a new endpoint is covered the day it is added): for each
operation, out-of-range and wrongly typed values in each query, path and body field, oversized and NUL-holding
strings, each required field left out, JSON nested past any sane depth, malformed JSON and ids that are not ids.
Deterministic (no randomness): a failure names the request that caused it.

SQLite runs every case; PostgreSQL, which refuses what SQLite silently stores (a bigint past 2^63, a NUL in text),
runs the cases where the two differ.
"""
from __future__ import annotations

import json
from typing import Any, Iterator

import pytest
from sqlalchemy import func, or_, select, text

from common.db import Database
from common.models import (
    Attachment, AuditEntry, Bulletin, BulletinAck, Case, CaseEvent, Enterprise, Node, NodeApplication, Person, Unit,
    User, Visit,
)

ROLES = ("office", "workstation_1")
COUNTED = (Enterprise, Person, Case, CaseEvent, Visit, Bulletin, BulletinAck, NodeApplication, Node, Unit, User,
           Attachment, AuditEntry)
WRITES = {"post", "put", "patch", "delete"}
# Ending the caller's own session or tokens would only test the login again: these are left to their own tests.
SKIPPED = {("post", "/oauth/revoke")}

HUGE = 2**63
HUGE_TEXT = "长" * 25_000  # past every text bound (the longest, a case's description, is 20,000)
NUL_TEXT = "before\x00after"
DEEP = 10_000


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# Values no field should turn into a 500. (The deeply nested value is sent as raw JSON text, see body_text.)
ANY_FIELD: tuple[Any, ...] = (HUGE, -HUGE - 1, -1, 1e308, HUGE_TEXT, NUL_TEXT, None, True, [], {"a": {"b": [1]}},
                              "not-a-uuid", "")
# A role other than the office's takes other paths through the scope checks, not through the value checks: a few
# values of each kind reach them.
SCOPE_FIELD: tuple[Any, ...] = (HUGE, HUGE_TEXT, None, [], "not-a-uuid")
# The values PostgreSQL treats differently from SQLite.
PG_FIELD: tuple[Any, ...] = (HUGE, -HUGE - 1, NUL_TEXT)
QUERY_VALUES = (str(HUGE), "9223372036854775808", str(-HUGE - 1), "-1", "1e308", "abc", "x" * 10_000, "\x00", "",
                "true", "00000000-0000-0000-0000-00000000000g")
PG_QUERY_VALUES = ("9223372036854775808", str(-HUGE - 1), "\x00")
PATH_VALUES = ("not-a-uuid", "9223372036854775808", "-1", "x" * 5_000, "%00", "00000000-0000-0000-0000-000000000000")
PG_PATH_VALUES = ("9223372036854775808", "%00")
RAW_BODIES = (b"{not json", b'{"a": 1', b"", b"null", b"[]", b"1e999999", b"\xff\xfe\x00",
              nested(DEEP).encode(), b'{"a": ' * DEEP + b"1" + b"}" * DEEP)


def good_bodies(world: dict[str, Any], role: str) -> dict[str, dict[str, Any]]:
    """A body each schema's endpoint accepts (or nearly): a field mutated alone then reaches the service."""
    key = "ws" if role == "workstation_1" else "sh"
    enterprise = str(world["enterprises"][key])
    return {
        "EnterpriseCreate": {"name": "启东模糊测试有限公司", "credit_code": "91310115MA1K00000X", "region_code": "310115"},
        "EnterpriseUpdate": {"address": "测试路2号"},
        "PersonCreate": {"enterprise_id": enterprise, "name": "李四", "phone": "13800000009"},
        "PersonUpdate": {"position": "安全员"},
        "CaseCreate": {"channel": "platform", "category": "economic_dispute", "title": "模糊测试", "urgency": "routine",
                       "enterprise_id": enterprise},
        "CaseUpdate": {"description": "更正"},
        "CaseEventCreate": {"kind": "comment", "note": "备注"},
        "VisitCreate": {"enterprise_id": enterprise, "visited_at": "2026-11-02T10:00:00", "kind": "safety",
                        "hazards": [{"description": "消防通道堵塞", "severity": "medium"}],
                        "checklist": {"fire_safety": "issue"}, "attendance": 3},
        "VisitUpdate": {"findings": "复查"},
        "BulletinCreate": {"kind": "news", "title": "模糊测试", "body": "内容", "targets": {"nodes": ["sc-shanghai"]},
                           "publish": False},
        "BulletinUpdate": {"title": "模糊测试"},
        "BulletinRemind": {"nodes": ["sc-suzhou"]},
        "ApplicationCreate": {"kind": "workstation", "name": "模糊测试工作站", "region_code": "310115",
                              "parent_node": "sc-shanghai", "host_enterprise_id": enterprise, "head_name": "赵站长",
                              "head_phone": "13900000009"},
        "ApplicationUpdate": {"reason": "补充"},
        "Decision": {"decision": "return", "comment": "请补充"},
        "NodeUpdate": {"name": "模糊测试节点"},
        "UserCreate": {"username": "fuzz_user", "name": "模糊测试", "role": "liaison", "node": "hub",
                       "unit": "criminal-investigation", "phone": "13800000019", "email": "fuzz@example.cn"},
        "UserUpdate": {"name": "模糊测试"},
        "UnitCreate": {"id": "ps-mohu", "name": "模糊测试派出所"},
        "UnitUpdate": {"name_en": "Fuzz Police Station"},
    }


def path_ids(world: dict[str, Any], role: str) -> dict[str, str]:
    key = "ws" if role == "workstation_1" else "sh"
    return {"enterprise_id": str(world["enterprises"][key]), "person_id": str(world["people"][key]),
            "case_id": str(world["cases"][key]), "visit_id": str(world["visits"][key]),
            "bulletin_id": str(world["bulletins"]["all"]), "application_id": str(world["applications"]["sh"]),
            "node_id": "ws-demo-1" if role == "workstation_1" else "sc-shanghai", "unit_id": "ps-haifu", "sha": "0" * 64,
            "user_id": str(world["users"]["liaison_jz"])}


class Operation:
    def __init__(self, method: str, path: str, spec: dict[str, Any], components: dict[str, Any]) -> None:
        self.method, self.path, self.spec = method, path, spec
        self.params = spec.get("parameters", [])
        content = spec.get("requestBody", {}).get("content", {})
        schema = content.get("application/json", {}).get("schema")
        self.schema_name: str | None = None
        self.properties: dict[str, Any] = {}
        self.required: list[str] = []
        for option in ([schema] if schema else []) + (schema or {}).get("oneOf", []):
            ref = option.get("$ref", "") if isinstance(option, dict) else ""
            if ref:
                self.schema_name = ref.rsplit("/", 1)[1]
                body = components[self.schema_name]
                self.properties, self.required = body.get("properties", {}), body.get("required", [])
        # Endpoints that read their body themselves (the sync API) are in the schema without one.
        self.takes_body = method in {"post", "put", "patch"}

    def __repr__(self) -> str:
        return f"{self.method.upper()} {self.path}"


def operations(schema: dict[str, Any]) -> list[Operation]:
    components = schema.get("components", {}).get("schemas", {})
    return [Operation(method, path, spec, components) for path, methods in sorted(schema["paths"].items())
            for method, spec in sorted(methods.items()) if (method, path) not in SKIPPED]


# A refusal may leave its own trace in the audit trail (a failed client authentication, a refused sync row): that
# is the trail working. Every write of a record is audited under another action.
REFUSAL_TRACES = ("security.", "login.", "token.", "oauth.")


_COUNTS_SQL: dict[str, Any] = {}


def counts(db: Database) -> tuple[int, ...]:
    """The rows of each counted table, the audit trail's refusal traces left out. Taken after nearly every request:
    the query is compiled once per dialect and sent as its SQL text, not built and cached anew each time."""
    with db.reads() as session:
        dialect = session.get_bind().dialect
        if dialect.name not in _COUNTS_SQL:
            traces = [AuditEntry.action.startswith(prefix) for prefix in REFUSAL_TRACES]
            queries = [select(func.count()).select_from(m) for m in COUNTED]
            queries[-1] = queries[-1].where(~or_(*traces))
            statement = select(*[q.scalar_subquery() for q in queries])
            sql = str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
            _COUNTS_SQL[dialect.name] = text(sql)
        return tuple(session.execute(_COUNTS_SQL[dialect.name]).one())


class Fuzzer:
    """Sends the cases of one role and keeps every failure, so one run lists them all."""

    def __init__(self, client: Any, db: Database, world: dict[str, Any], role: str, postgres: bool) -> None:
        self.client, self.db, self.role, self.postgres = client, db, role, postgres
        self.bodies = good_bodies(world, role)
        self.ids = path_ids(world, role)
        self.failures: list[str] = []
        self.sent = 0
        self.baseline: tuple[int, ...] = ()

    def url(self, op: Operation, override: dict[str, str] | None = None) -> str:
        path = op.path
        for param in op.params:
            if param["in"] == "path":
                value = (override or {}).get(param["name"], self.ids.get(param["name"], "x"))
                path = path.replace("{" + param["name"] + "}", value)
        return path

    def send(self, op: Operation, label: str, url: str | None = None, params: dict[str, str] | None = None,
             content: bytes | None = None) -> None:
        write = op.method in WRITES
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        response = self.client.request(op.method.upper(), url or self.url(op), params=params, content=content,
                                       headers=headers)
        self.sent += 1
        where = f"{op!r} [{label}] as {self.role}"
        if response.status_code >= 500:
            self.failures.append(f"{where}: {response.status_code} {response.text[:300]}")
            self.baseline = counts(self.db) if write else self.baseline
            return
        if 400 <= response.status_code < 500:
            # OAuth's endpoints answer in RFC 6749's own error format ({"error": ...}), as its clients expect.
            if not op.path.startswith("/oauth/") and \
                    not response.headers.get("content-type", "").startswith("application/problem+json"):
                self.failures.append(f"{where}: {response.status_code} is not problem+json")
            if write and counts(self.db) != self.baseline:
                self.failures.append(f"{where}: refused with {response.status_code} but wrote rows")
                self.baseline = counts(self.db)
        elif write:
            # Taken: what it wrote is the baseline the next refusal is held to (one count per write, not two).
            self.baseline = counts(self.db)

    def body(self, op: Operation, value: dict[str, Any] | list[Any] | None, raw_field: tuple[str, str] | None = None) -> bytes:
        text = json.dumps(value, ensure_ascii=False)
        if raw_field is not None:
            # Nested past any JSON library's recursion limit: spliced in as text, json.dumps would refuse it.
            field, raw = raw_field
            text = json.dumps({**(value or {}), field: "@@RAW@@"}, ensure_ascii=False).replace('"@@RAW@@"', raw)
        return text.encode()

    def run(self, op: Operation) -> None:
        self.baseline = counts(self.db)
        base = self.bodies.get(op.schema_name or "", {})
        for param in op.params:
            if param["in"] == "query":
                for value in (PG_QUERY_VALUES if self.postgres else QUERY_VALUES):
                    self.send(op, f"query {param['name']}={value[:20]!r}", params={param["name"]: value},
                              content=self.body(op, base) if op.takes_body else None)
            elif param["in"] == "path":
                for value in (PG_PATH_VALUES if self.postgres else PATH_VALUES):
                    self.send(op, f"path {param['name']}={value[:20]!r}", url=self.url(op, {param["name"]: value}),
                              content=self.body(op, base) if op.takes_body else None)
        if not op.takes_body:
            return
        if op.method == "delete":
            return
        for name in sorted(set(op.properties) | set(base)):
            for value in (PG_FIELD if self.postgres else ANY_FIELD if self.role == "office" else SCOPE_FIELD):
                self.send(op, f"body {name}={str(value)[:20]!r}", content=self.body(op, {**base, name: value}))
            if not self.postgres:
                self.send(op, f"body {name} nested {DEEP}", content=self.body(op, base, (name, nested(DEEP))))
                self.send(op, f"body {name}: 2000 items", content=self.body(op, {**base, name: ["x" * 50] * 2000}))
        if self.postgres:
            return
        for name in op.required:
            self.send(op, f"without {name}", content=self.body(op, {k: v for k, v in base.items() if k != name}))
        for raw in RAW_BODIES:
            self.send(op, f"raw body {raw[:12]!r}", content=raw)
        self.send(op, "unknown field", content=self.body(op, {**base, "zzz_unknown": 1}))
        self.send(op, "a list for the object", content=self.body(op, [base]))


@pytest.fixture
def schema(clients: Any) -> dict[str, Any]:
    answer = clients("office").get("/schema/openapi.json")
    assert answer.status_code == 200
    return answer.json()


@pytest.fixture
def fuzzers(clients: Any, db: Database, world: dict[str, Any], db_kind: str) -> Iterator[list[Fuzzer]]:
    # On PostgreSQL the office alone: the cases it runs there are about the database, not about who asks.
    roles = ROLES[:1] if db_kind == "postgresql" else ROLES
    yield [Fuzzer(clients(role), db, world, role, db_kind == "postgresql") for role in roles]


def test_no_operation_answers_hostile_input_with_a_server_error(schema: dict[str, Any], fuzzers: list[Fuzzer]) -> None:
    ops = operations(schema)
    assert len(ops) > 40 and any(op.path == "/api/v1/visits" and op.method == "post" for op in ops)
    failures: list[str] = []
    for fuzzer in fuzzers:
        for op in ops:
            fuzzer.run(op)
        failures += fuzzer.failures
    assert not failures, f"{len(failures)} failures of {sum(f.sent for f in fuzzers)} requests:\n" + "\n".join(failures[:1000])
