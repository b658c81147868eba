"""The campaign's edits: each spoke's head at their spoke, the office at the hub, every write kept in a ledger.

A write is `accepted` (the API answered 2xx: it must end up at the hub and at the spokes whose scope holds it, once),
`refused` (the API answered with an error, or the connection was refused before the request went out: it must not
appear anywhere) or `unknown` (the connection broke after the request went out: it may appear, at most once). Every
write carries a token of its own in a text field, so it can be found by content whatever its outcome.
"""
from __future__ import annotations

import hashlib
import random
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from common.validation import make_credit_code
from tests.chaos.world import Spoke, World

JSON_HEADERS = {"Accept": "application/json"}
JPEG_HEAD, JPEG_TAIL = b"\xff\xd8\xff\xe0", b"\xff\xd9"


@dataclass
class Write:
    number: int
    actor: str  # the node whose person made it ("hub": the office)
    action: str  # create_enterprise, patch_enterprise, create_person, create_case, comment, create_visit, ...
    entity: str  # the synced table it lands in
    token: str  # unique text carried by the row (or the new value of the patched field)
    target_node: str  # the node the row belongs to
    status: str = "pending"  # accepted / refused / unknown
    http_status: int | None = None
    row_id: str | None = None  # the created row's id (accepted creates), the patched row's id (patches)
    field_name: str | None = None  # patches: the field set to `token`
    detail: str = ""
    at: float = 0.0  # seconds since the campaign began
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Ledger:
    """Every write of the campaign, in the order they were made (per actor, the order its API saw them)."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.writes: list[Write] = []
        self._lock = threading.Lock()

    def new(self, **fields: Any) -> Write:
        with self._lock:
            write = Write(number=len(self.writes) + 1, at=round(time.monotonic() - self.started, 2), **fields)
            self.writes.append(write)
            return write

    def accepted(self, actor: str | None = None, action: str | None = None) -> list[Write]:
        with self._lock:
            return [w for w in self.writes if w.status == "accepted" and (actor is None or w.actor == actor)
                    and (action is None or w.action == action)]

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        with self._lock:
            for w in self.writes:
                out.setdefault(w.action, {"accepted": 0, "refused": 0, "unknown": 0})[w.status] += 1
        return out


def send(write: Write, request: Any) -> httpx.Response | None:
    """Make the request and file its outcome on the write."""
    try:
        response = request()
    except httpx.ConnectError as exc:  # nothing was sent
        write.status, write.detail = "refused", f"{type(exc).__name__}: {exc}"[:300]
        return None
    except httpx.HTTPError as exc:  # sent; whether it was applied is not known
        write.status, write.detail = "unknown", f"{type(exc).__name__}: {exc}"[:300]
        return None
    write.http_status = response.status_code
    if response.status_code < 400:
        write.status = "accepted"
    else:
        write.status, write.detail = "refused", response.text[:300]
    return response


class Clerk:
    """A spoke's head at work: adds and edits enterprises, people, cases, comments and visits with photos."""

    def __init__(self, world: World, spoke: Spoke, ledger: Ledger, rng: random.Random, index: int) -> None:
        self.world, self.spoke, self.ledger, self.rng = world, spoke, ledger, rng
        self.code_base = 80_000_000 + index * 200_000
        self.made = 0
        self.enterprises: list[str] = []  # ids of the accepted enterprises this clerk made
        self.cases: list[str] = []

    def token(self, kind: str) -> str:
        self.made += 1
        return f"CH{self.spoke.node[-2:]}{kind}{self.made:05d}"

    def headers(self) -> dict[str, str]:
        return {**JSON_HEADERS, "X-CSRF-Token": self.spoke.csrf}

    def prime(self) -> None:
        """A workstation adds no enterprise: it works on those of its node it holds already."""
        if self.spoke.role != "enterprise":
            return
        listed = self.spoke.client.get(self.url("/api/v1/enterprises"), params={"limit": 50}, headers=JSON_HEADERS)
        listed.raise_for_status()
        self.enterprises = [e["id"] for e in listed.json()["items"] if e.get("node") == self.spoke.node]

    def step(self) -> None:
        choices = [("create_enterprise", 3)] if self.spoke.role != "enterprise" else []
        if self.enterprises:
            choices += [("patch_enterprise", 3), ("create_person", 2), ("create_case", 2)]
            if self.spoke.role != "enterprise":  # visits are logged by sub-centers
                choices.append(("create_visit", 1))
        if self.cases:
            choices.append(("comment", 2))
        action = self.rng.choices([c for c, _ in choices], [w for _, w in choices])[0]
        getattr(self, action)()

    def url(self, path: str) -> str:
        return f"{self.spoke.url}{path}"

    def create_enterprise(self) -> None:
        token = self.token("E")
        code = make_credit_code("9", "1", self.spoke.region_code, f"{self.code_base + self.made:08d}")
        write = self.ledger.new(actor=self.spoke.node, action="create_enterprise", entity="enterprise", token=token,
                                target_node=self.spoke.node, extra={"credit_code": code})
        body = {"name": f"混沌{token}建材有限公司", "credit_code": code, "region_code": self.spoke.region_code,
                "industry": "construction", "address": f"初始地址{token}"}
        response = send(write, lambda: self.spoke.client.post(self.url("/api/v1/enterprises"), json=body,
                                                              headers=self.headers()))
        if write.status == "accepted" and response is not None:
            write.row_id = response.json()["id"]
            self.enterprises.append(write.row_id)

    def patch_enterprise(self) -> None:
        target = self.rng.choice(self.enterprises)
        value = f"{self.token('A')}路{self.rng.randint(1, 999)}号"
        write = self.ledger.new(actor=self.spoke.node, action="patch_enterprise", entity="enterprise", token=value,
                                target_node=self.spoke.node, row_id=target, field_name="address")
        send(write, lambda: self.spoke.client.patch(self.url(f"/api/v1/enterprises/{target}"),
                                                    json={"address": value}, headers=self.headers()))

    def create_person(self) -> None:
        enterprise = self.rng.choice(self.enterprises)
        token = self.token("P")
        write = self.ledger.new(actor=self.spoke.node, action="create_person", entity="person", token=token,
                                target_node=self.spoke.node, extra={"enterprise_id": enterprise})
        body = {"enterprise_id": enterprise, "name": f"张{token}", "phone": f"139{self.made:08d}"[:11],
                "position": "安全员"}
        response = send(write, lambda: self.spoke.client.post(self.url("/api/v1/people"), json=body,
                                                              headers=self.headers()))
        if write.status == "accepted" and response is not None:
            write.row_id = response.json()["id"]

    def create_case(self) -> None:
        enterprise = self.rng.choice(self.enterprises)
        token = self.token("C")
        write = self.ledger.new(actor=self.spoke.node, action="create_case", entity="case_record", token=token,
                                target_node=self.spoke.node, extra={"enterprise_id": enterprise})
        body = {"enterprise_id": enterprise, "channel": "platform", "category": "consultation", "urgency": "routine",
                "title": f"劳动合同咨询{token}", "description": "咨询外地用工劳动合同签订政策。"}
        response = send(write, lambda: self.spoke.client.post(self.url("/api/v1/cases"), json=body,
                                                              headers=self.headers()))
        if write.status == "accepted" and response is not None:
            write.row_id = response.json()["id"]
            self.cases.append(write.row_id)

    def comment(self) -> None:
        case = self.rng.choice(self.cases)
        token = self.token("N")
        write = self.ledger.new(actor=self.spoke.node, action="comment", entity="case_event", token=token,
                                target_node=self.spoke.node, extra={"case_id": case})
        send(write, lambda: self.spoke.client.post(self.url(f"/api/v1/cases/{case}/events"),
                                                   json={"kind": "comment", "note": f"跟进{token}"},
                                                   headers=self.headers()))

    def create_visit(self) -> None:
        """Through the page's form, with a photo: the visit and its attachment (the blob goes up lazily)."""
        enterprise = self.rng.choice(self.enterprises)
        token = self.token("V")
        photo = JPEG_HEAD + f"lianfu-chaos-photo-{token}".encode() * 8 + JPEG_TAIL
        write = self.ledger.new(actor=self.spoke.node, action="create_visit", entity="visit", token=token,
                                target_node=self.spoke.node,
                                extra={"enterprise_id": enterprise, "photo_sha256": hashlib.sha256(photo).hexdigest()})
        form = {"enterprise_id": enterprise, "visited_at": "2026-11-20T09:30", "kind": "safety",
                "findings": f"消防通道堆放杂物{token}", "guidance": "当场指导清理", "visitors": "张警官、李警官",
                "checklist[fire_safety]": "issue", "hazards[0][description]": "消防通道堵塞",
                "hazards[0][severity]": "high", "csrf_token": self.spoke.csrf}
        response = send(write, lambda: self.spoke.client.post(
            self.url("/visits"), data=form, files=[("photos", (f"现场{token}.jpg", photo, "image/jpeg"))],
            follow_redirects=False))
        if write.status == "accepted" and response is not None:
            location = response.headers.get("location", "")
            if response.status_code != 303 or not location.startswith("/visits/"):
                write.status, write.detail = "refused", f"{response.status_code} {location} {response.text[:200]}"
            else:
                write.row_id = location.split("/")[2].split("?")[0]


class Office:
    """The office at the hub: adds enterprises to the spokes' nodes, sets their parent company, comments on cases."""

    def __init__(self, world: World, ledger: Ledger, rng: random.Random) -> None:
        self.world, self.ledger, self.rng = world, ledger, rng
        self.made = 0
        self.code_base = 60_000_000

    def token(self, kind: str) -> str:
        self.made += 1
        return f"CHHQ{kind}{self.made:05d}"

    def headers(self) -> dict[str, str]:
        return {**JSON_HEADERS, "X-CSRF-Token": self.world.office_csrf}

    def url(self, path: str) -> str:
        assert self.world.fed is not None
        return f"{self.world.fed.hub_url}{path}"

    def step(self) -> None:
        spoke_writes = self.ledger.accepted(action="create_enterprise")
        cases = self.ledger.accepted(action="create_case")
        choices = [("create_enterprise", 2)]
        if spoke_writes:
            choices.append(("patch_parent_company", 3))
        if cases:
            choices.append(("comment", 2))
        action = self.rng.choices([c for c, _ in choices], [w for _, w in choices])[0]
        if action == "create_enterprise":
            self.create_enterprise()
        elif action == "patch_parent_company":
            self.patch_parent_company(self.rng.choice(spoke_writes))
        else:
            self.comment(self.rng.choice(cases))

    def create_enterprise(self) -> None:
        spoke = self.rng.choice(list(self.world.spokes.values()))
        token = self.token("E")
        code = make_credit_code("9", "1", spoke.region_code, f"{self.code_base + self.made:08d}")
        write = self.ledger.new(actor="hub", action="create_enterprise", entity="enterprise", token=token,
                                target_node=spoke.node, extra={"credit_code": code})
        body = {"name": f"混沌{token}物流有限公司", "credit_code": code, "region_code": spoke.region_code,
                "industry": "trade", "node": spoke.node}
        assert self.world.office is not None
        response = send(write, lambda: self.world.office.post(self.url("/api/v1/enterprises"), json=body,
                                                              headers=self.headers()))
        if write.status == "accepted" and response is not None:
            write.row_id = response.json()["id"]

    def patch_parent_company(self, made: Write) -> None:
        token = self.token("G")
        value = f"启东{token}集团"
        write = self.ledger.new(actor="hub", action="patch_parent_company", entity="enterprise", token=value,
                                target_node=made.target_node, row_id=made.row_id, field_name="parent_company")
        assert self.world.office is not None
        send(write, lambda: self.world.office.patch(self.url(f"/api/v1/enterprises/{made.row_id}"),
                                                    json={"parent_company": value}, headers=self.headers()))

    def comment(self, case: Write) -> None:
        token = self.token("N")
        write = self.ledger.new(actor="hub", action="comment", entity="case_event", token=token,
                                target_node=case.target_node, extra={"case_id": case.row_id})
        assert self.world.office is not None
        send(write, lambda: self.world.office.post(self.url(f"/api/v1/cases/{case.row_id}/events"),
                                                   json={"kind": "comment", "note": f"总部督促{token}"},
                                                   headers=self.headers()))


def run_actor(actor: Any, stop: threading.Event, pause: tuple[float, float], rng: random.Random,
              errors: list[str]) -> None:
    """Steps until told to stop, a pause between them; an error of the campaign's own code is kept, not swallowed."""
    while not stop.is_set():
        try:
            actor.step()
        except Exception as exc:  # noqa: BLE001 - reported in the campaign's findings
            errors.append(f"{type(actor).__name__}: {type(exc).__name__}: {exc}")
        stop.wait(rng.uniform(*pause))
