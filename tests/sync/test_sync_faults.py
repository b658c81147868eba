"""Sync cut off in the middle, with real processes: the round resumes with nothing lost and nothing twice.

Each test runs a real hub (`tests.live_federation.Federation`), enrolls `sc-shanghai` with the real `lianfu spoke
enroll`, and drives its rounds with `lianfu sync --data-dir` subprocesses (the spoke's server does not run, so the
test controls the timing). Data is made at the spoke through the domain services on a change-capturing database
(`sync.capture.spoke_database`), so it reaches the outbox exactly as a person's edits do; at the hub with the real
`lianfu hub seed-demo` while the hub is stopped. Progress is watched by reading the SQLite files read-only.

1. `lianfu sync` killed (SIGKILL) in the middle of a push of several batches;
2. the hub killed (SIGKILL) in the middle of a push, then started again;
3. `lianfu sync` killed in the middle of a pull of several pages;
4. the connection cut in the middle of the hub's answer (a push answer, then a pull answer) by a TCP proxy.

Then rounds run again until one completes, and the state is checked exactly: at the hub every row made at the spoke
once (by id and by credit code), the spoke's outbox empty, the spoke holding exactly the hub's rows of its scope
(same ids, same versions), `lianfu sync status` without an error and with nothing queued.
"""
from __future__ import annotations

import json
import signal
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from common.models import User
from common.policy import load_principal
from common.roster import service as roster
from common.validation import make_credit_code
from sync.capture import spoke_database
from sync.entities import ENTITIES
from sync.wire import MAX_BATCH_ROWS, PULL_PAGE_ROWS
from tests.live_federation import Federation, SyncRun

NODE = "sc-shanghai"
SUBCENTER = "subcenter_sh"
# Each enterprise made at the spoke is two outbox entries (the row and its audit entry): 4,400 entries, three batches.
NEW_ENTERPRISES = 2200
# A batch of MAX_BATCH_ROWS entries carries MAX_BATCH_ROWS // 2 of them: a push is cut off after its first batch landed
# at the hub and before its second did, so that at least one more batch is still to come whatever the timing.
BEFORE_SECOND_BATCH = 2 * (MAX_BATCH_ROWS // 2)
NAME_PREFIX = "启东断点"
# Organisation bodies of the credit codes made here: seed-demo's are (i * 7919 + 13) for row i, far below this.
CODE_BASE = 70_000_000
# Enterprises added at the hub for the pull test: about 40 % of them (and their people) are in sc-shanghai's scope.
HUB_ENTERPRISES = 8000
PULLED = [entity for entity in ENTITIES if entity.pull]
KILLED = -signal.SIGKILL


@pytest.fixture
def fed() -> Iterator[Federation]:
    with Federation(enterprises=20) as federation:
        yield federation


# The page size of the spoke's pulls behind the cutting proxy (LIANFU_SYNC_PULL_PAGE): a few pages of rows are enough.
CUT_PAGE_ROWS = 40


@pytest.fixture
def pinned_fed() -> Iterator[Federation]:
    """A hub with its public URL configured (LIANFU_BASE_URL), as behind a proxy: its issuer is not the Host header.
    Its spoke pulls pages of CUT_PAGE_ROWS rows."""
    federation = Federation(enterprises=20, spoke_env={"LIANFU_SYNC_PULL_PAGE": str(CUT_PAGE_ROWS)})
    federation.hub_env["LIANFU_BASE_URL"] = federation.hub_url
    with federation:
        yield federation


# --- reading the SQLite files ---------------------------------------------------------------------------------------

def hub_db(fed: Federation) -> Path:
    return fed.hub_dir / "lianfu.db"


def spoke_db(fed: Federation) -> Path:
    return fed.spoke_dir(NODE) / "lianfu.db"


def query(path: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Read-only, so that watching a running process's database never gets in its way."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


def scalar(path: Path, sql: str, *params: Any) -> Any:
    return query(path, sql, *params)[0][0]


def outbox_size(fed: Federation) -> int:
    return int(scalar(spoke_db(fed), "SELECT COUNT(*) FROM sync_outbox"))


def recorded_status(fed: Federation) -> dict[str, Any]:
    """What the spoke's rounds recorded about themselves (sync_state "status"), read without starting a process."""
    rows = query(spoke_db(fed), "SELECT value FROM sync_state WHERE key = 'status'")
    return json.loads(rows[0][0]) if rows else {}


def new_at_hub(fed: Federation) -> int:
    """How many of the enterprises made at the spoke the hub holds now (a cheap probe, polled while a round runs)."""
    return int(scalar(hub_db(fed), "SELECT COUNT(*) FROM enterprise WHERE name LIKE ?", f"{NAME_PREFIX}%"))


def row_count(path: Path) -> int:
    """Rows of all pulled entities in a database (a cheap probe, polled while a round runs)."""
    return int(scalar(path, "SELECT " + " + ".join(f"(SELECT COUNT(*) FROM {e.table.name})" for e in PULLED)))


def subtree(fed: Federation) -> list[str]:
    """The spoke's node and every node below it, from the hub's node tree."""
    return sorted(row[0] for row in query(
        hub_db(fed), "SELECT id FROM node WHERE substr(path, 1, length((SELECT path FROM node WHERE id = ?))) = "
                     "(SELECT path FROM node WHERE id = ?)", NODE, NODE))


def versions(path: Path, nodes: list[str] | None) -> dict[str, dict[str, int]]:
    """Per pulled entity, {id: version}: at the hub those of the spoke's scope (`nodes`), at the spoke all of them."""
    out: dict[str, dict[str, int]] = {}
    for entity in PULLED:
        sql = f"SELECT id, version FROM {entity.table.name}"
        params: list[str] = []
        if nodes is not None:
            marks = ", ".join("?" * len(nodes))
            if entity.name == "case_event":  # an event goes where its case goes
                sql += f" WHERE case_id IN (SELECT id FROM case_record WHERE node_id IN ({marks}))"
            else:
                sql += f" WHERE node_id IN ({marks})"
            params = nodes
        rows = query(path, sql, *params)
        out[entity.name] = dict(rows)
        assert len(out[entity.name]) == len(rows), (path, entity.name, "the same id twice")
    return out


def total(found: dict[str, dict[str, int]]) -> int:
    return sum(len(rows) for rows in found.values())


def differences(spoke: dict[str, dict[str, int]], hub: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """What differs, counted (the dicts themselves are too large for a readable assertion message)."""
    out = {}
    for name, theirs in hub.items():
        mine = spoke.get(name, {})
        missing = len(theirs.keys() - mine.keys())
        extra = len(mine.keys() - theirs.keys())
        stale = sum(1 for key in theirs.keys() & mine.keys() if theirs[key] != mine[key])
        if missing or extra or stale:
            out[name] = {"missing": missing, "extra": extra, "other_version": stale, "hub": len(theirs),
                         "spoke": len(mine)}
    return out


# --- making data at the spoke ---------------------------------------------------------------------------------------

def make_enterprises(fed: Federation, count: int = NEW_ENTERPRISES, per_transaction: int = 1000) -> set[str]:
    """`count` enterprises made at the spoke as its sub-center head, through the services: each lands in the outbox."""
    db = spoke_database(f"sqlite:///{spoke_db(fed)}", NODE)
    codes: set[str] = set()
    try:
        with db.reads() as session:
            principal = load_principal(session, session.scalars(select(User).where(User.username == SUBCENTER)).one())
        for start in range(0, count, per_transaction):
            with db.transaction(actor=principal) as session:
                for n in range(start, min(count, start + per_transaction)):
                    code = make_credit_code("9", "1", "310115", f"{CODE_BASE + n:08d}")
                    roster.create_enterprise(session, principal, {
                        "name": f"{NAME_PREFIX}{n}号建材有限公司", "credit_code": code, "region_code": "310115",
                        "industry": "construction"})
                    codes.add(code)
    finally:
        db.dispose()
    assert len(codes) == count
    return codes


def make_at_hub(fed: Federation, count: int) -> None:
    """`count` enterprises of the spoke's node made at the hub by the office, through the services, while the hub
    runs: rows the spoke's next pull brings down."""
    from common.db import Database
    from sync.capture import install

    db = Database.connect(f"sqlite:///{hub_db(fed)}")
    install(db, "hub", outbox=False)
    try:
        with db.reads() as session:
            office = load_principal(session, session.scalars(select(User).where(User.username == "office")).one())
        with db.transaction(actor=office) as session:
            for n in range(count):
                roster.create_enterprise(session, office, {
                    "name": f"启东总部{n}号建材有限公司", "node": NODE, "region_code": "310115",
                    "credit_code": make_credit_code("9", "1", "310115", f"{CODE_BASE + 500_000 + n:08d}"),
                    "industry": "construction"})
    finally:
        db.dispose()


def spoke_ids_by_code(fed: Federation, codes: set[str]) -> dict[str, str]:
    return {code: row_id for row_id, code in query(spoke_db(fed), "SELECT id, credit_code FROM enterprise")
            if code in codes}


def hub_rows_with(fed: Federation, codes: set[str]) -> list[tuple[str, str]]:
    return [(row_id, code) for row_id, code in query(hub_db(fed), "SELECT id, credit_code FROM enterprise")
            if code in codes]


# --- driving rounds -------------------------------------------------------------------------------------------------

def first_round(fed: Federation) -> dict[str, Any]:
    """Enroll the spoke (its first full sync brings the seeded scope down) and run a round; its recorded status
    afterwards, with `pushed_so_far`: the changes the hub has applied from it by then."""
    enrolled = json.loads(fed.enroll(NODE).stdout)
    assert enrolled["first_sync"]["ok"] and enrolled["first_sync"]["pulled"] > 0, enrolled
    run = fed.run_sync(NODE)
    assert run.returncode == 0, run.output()
    status = recorded_status(fed)
    assert status["last_success"] and status["last_error"] is None and status["queued"] == 0, status
    status["pushed_so_far"] = hub_pushed_total(fed)
    assert status["pushed_so_far"] == enrolled["first_sync"]["pushed"] + status["last_round"]["pushed"]
    return status


def hub_pushed_total(fed: Federation) -> int:
    """Changes the hub applied from the spoke, counted once per batch: a batch sent again does not count again."""
    return int(scalar(hub_db(fed), "SELECT pushed_total FROM sync_peer WHERE node_id = ?", NODE))


def when_partly_done(run: SyncRun, probe: Callable[[], int], low: int, high: int, what: str,
                     timeout: float = 60) -> int:
    """Wait until `low < probe() < high` while the round still runs; the caller cuts it off right then."""
    deadline = time.monotonic() + timeout
    value = probe()
    while time.monotonic() < deadline:
        if low < value < high:
            return value
        if not run.running():
            raise AssertionError(f"the round ended ({run.returncode}) before {what} was partly done "
                                 f"({value}, wanted between {low} and {high}):\n{run.output()}")
        time.sleep(0.05)
        value = probe()
    raise AssertionError(f"{what} did not get partly done within {timeout:.0f} s ({value}):\n{run.output()}")


def sync_until_done(fed: Federation, attempts: int = 3) -> list[SyncRun]:
    """Rounds until one completes (the operator's `lianfu sync` again); every run made, the last one completed."""
    runs = []
    for _ in range(attempts):
        runs.append(fed.run_sync(NODE))
        if runs[-1].returncode == 0:
            return runs
    raise AssertionError("no round completed:\n" + "\n---\n".join(run.output() for run in runs))


def assert_failed(run: SyncRun) -> dict[str, Any]:
    """A round that ended by itself but did not complete: exit 1 and a summary that says why."""
    assert run.returncode == 1, run.output()
    summary = run.summary
    assert summary is not None and summary["ok"] is False and summary["error"], run.output()
    return summary


def assert_completed(runs: list[SyncRun]) -> None:
    summary = runs[-1].summary
    assert summary is not None and summary["ok"] is True and summary["error"] is None, runs[-1].output()
    assert summary["queued"] == 0 and summary["rejected"] == 0 and summary["conflicts"] == 0, summary


# --- the final state, exactly ---------------------------------------------------------------------------------------

def assert_hub_holds_each_once(fed: Federation, codes: set[str]) -> None:
    """Every enterprise made at the spoke is at the hub exactly once, with the spoke's id; so is every audit entry."""
    at_spoke = spoke_ids_by_code(fed, codes)
    assert len(at_spoke) == len(codes)
    at_hub = hub_rows_with(fed, codes)
    assert len(at_hub) == len(codes), f"the hub holds {len(at_hub)} rows of the {len(codes)} made at the spoke"
    assert len({row_id for row_id, _ in at_hub}) == len(codes), "an id twice at the hub"
    assert len({code for _, code in at_hub}) == len(codes), "a credit code twice at the hub"
    assert {code: row_id for row_id, code in at_hub} == at_spoke, "the hub's rows are not the spoke's"
    assert query(hub_db(fed), "SELECT credit_code, COUNT(*) FROM enterprise GROUP BY credit_code "
                              "HAVING COUNT(*) > 1") == []
    # The spoke's audit trail went along, each entry once and in one unbroken sequence.
    spoke_audit = dict(query(spoke_db(fed), "SELECT id, seq FROM audit_entry WHERE node_id = ?", NODE))
    hub_audit = query(hub_db(fed), "SELECT id, seq FROM audit_entry WHERE node_id = ?", NODE)
    assert len(hub_audit) == len(spoke_audit) >= len(codes)
    assert dict(hub_audit) == spoke_audit
    assert sorted(seq for _, seq in hub_audit) == list(range(1, len(hub_audit) + 1))


def assert_spoke_equals_hub_scope(fed: Federation) -> dict[str, dict[str, int]]:
    hub = versions(hub_db(fed), subtree(fed))
    spoke = versions(spoke_db(fed), None)
    assert spoke == hub, differences(spoke, hub)
    assert query(spoke_db(fed), "SELECT credit_code, COUNT(*) FROM enterprise GROUP BY credit_code "
                                "HAVING COUNT(*) > 1") == []
    return hub


def assert_settled(fed: Federation) -> None:
    assert outbox_size(fed) == 0
    status = fed.sync_status(NODE)
    assert status["last_error"] is None and status["queued"] == 0 and status["last_success"], status
    assert status["rejected"] == [] and status["open_conflicts"] == 0, status
    assert status["last_round"]["repaired"] == [], status  # the digest agreed without a repair


# --- 1. the sync process killed mid-push ----------------------------------------------------------------------------

def test_sync_process_killed_mid_push_resumes_without_loss_or_duplicates(fed: Federation) -> None:
    before = first_round(fed)
    codes = make_enterprises(fed)
    queued = outbox_size(fed)
    assert queued >= 2 * MAX_BATCH_ROWS + 1, "the push should take at least three batches"

    run = fed.start_sync(NODE)
    landed = when_partly_done(run, lambda: new_at_hub(fed), 0, BEFORE_SECOND_BATCH, "the push")
    assert run.kill() == KILLED, run.output()
    assert run.summary is None  # killed: it printed nothing

    assert 0 < len(hub_rows_with(fed, codes)) < len(codes), landed
    status = fed.sync_status(NODE)
    # The round never completed: no new success, changes still queued, but the attempt itself is on record.
    assert status["last_success"] == before["last_success"] and status["last_attempt"] != before["last_attempt"]
    assert 0 < status["queued"] <= queued, status

    runs = sync_until_done(fed)
    assert len(runs) == 1, [r.output() for r in runs]
    assert_completed(runs)
    assert_hub_holds_each_once(fed, codes)
    assert hub_pushed_total(fed) == before["pushed_so_far"] + queued
    assert_spoke_equals_hub_scope(fed)
    assert_settled(fed)


# --- 2. the hub killed mid-push -------------------------------------------------------------------------------------

def test_hub_killed_mid_push_resumes_without_loss_or_duplicates(fed: Federation) -> None:
    before = first_round(fed)
    codes = make_enterprises(fed)
    queued = outbox_size(fed)

    run = fed.start_sync(NODE)
    when_partly_done(run, lambda: new_at_hub(fed), 0, BEFORE_SECOND_BATCH, "the push")
    fed.kill_hub()
    run.wait(60)
    failed = assert_failed(run)
    assert "Error" in failed["error"] or "answered 5" in failed["error"], failed

    landed = len(hub_rows_with(fed, codes))
    assert 0 < landed < len(codes)
    status = fed.sync_status(NODE)
    assert status["last_error"] == failed["error"] and status["last_error_at"], status
    assert 0 < status["queued"] <= queued and status["queued"] == failed["queued"], status

    fed.start_hub()
    runs = sync_until_done(fed)
    assert len(runs) == 1, [r.output() for r in runs]
    assert_completed(runs)
    assert_hub_holds_each_once(fed, codes)
    assert hub_pushed_total(fed) == before["pushed_so_far"] + queued
    assert_spoke_equals_hub_scope(fed)
    assert_settled(fed)


# --- 3. the sync process killed mid-pull ----------------------------------------------------------------------------

def test_sync_process_killed_mid_pull_resumes_without_loss_or_duplicates(fed: Federation) -> None:
    before = first_round(fed)
    start = total(versions(spoke_db(fed), None))
    # The office's new rows: written into the hub's database by the real seeding command, hub stopped meanwhile.
    fed.stop_hub()
    fed.run_hub_command("seed-demo", "--enterprises", str(HUB_ENTERPRISES))
    fed.start_hub()
    wanted = total(versions(hub_db(fed), subtree(fed)))
    assert wanted - start > 2 * PULL_PAGE_ROWS, "the pull should take at least three pages"

    run = fed.start_sync(NODE)
    # Cut off after its first page and before its second: at least two more pages are still to come.
    when_partly_done(run, lambda: row_count(spoke_db(fed)), start, start + PULL_PAGE_ROWS + 1, "the pull")
    assert run.kill() == KILLED, run.output()
    assert run.summary is None

    # What came down before the kill is the hub's rows as the hub has them (a page is applied whole or not at all).
    partial = versions(spoke_db(fed), None)
    hub = versions(hub_db(fed), subtree(fed))
    assert start < total(partial) < wanted
    for name, rows in partial.items():
        assert {k: hub[name].get(k) for k in rows} == rows, (name, differences(partial, hub))
    status = fed.sync_status(NODE)
    assert status["last_success"] == before["last_success"] and status["queued"] == 0, status

    runs = sync_until_done(fed)
    assert len(runs) == 1, [r.output() for r in runs]
    assert_completed(runs)
    final = assert_spoke_equals_hub_scope(fed)
    assert total(final) == wanted
    assert_settled(fed)


# --- 4. the connection cut in the middle of the hub's answer --------------------------------------------------------

class CuttingProxy:
    """A TCP proxy in front of the hub that can cut chosen answers off part way.

    Requests go through whole. For the requests whose path starts with a rule's path (after `skip` of them, `times`
    of them), the hub's answer is forwarded up to the end of its head and `body_bytes` bytes of its body, then both
    connections are closed. Each answer ends its connection, so a rule hits exactly the requests it names.
    """

    def __init__(self, port: int) -> None:
        self.target = ("127.0.0.1", port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.rules: list[dict[str, Any]] = []
        self.requests: list[str] = []
        self.cuts: list[tuple[str, int]] = []  # (request line, bytes of the answer forwarded)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, name="cutting-proxy", daemon=True)
        self._acceptor.start()

    def cut(self, path: str, body_bytes: int, times: int = 1, skip: int = 0) -> None:
        with self._lock:
            self.rules.append({"path": path, "body_bytes": body_bytes, "times": times, "skip": skip})

    def heal(self) -> None:
        with self._lock:
            self.rules.clear()

    def close(self) -> None:
        self._stop.set()
        self._acceptor.join(timeout=10)
        self.listener.close()
        with self._lock:
            live = list(self._sockets)
        for sock in live:
            _shutdown(sock)
        for thread in self._threads:
            thread.join(timeout=10)
        for sock in live:
            sock.close()

    # --- the plumbing ---------------------------------------------------------------------------------------------

    def _rule_for(self, path: str) -> int | None:
        with self._lock:
            for rule in self.rules:
                if path.startswith(rule["path"]):
                    if rule["skip"] > 0:
                        rule["skip"] -= 1
                        return None
                    if rule["times"] > 0:
                        rule["times"] -= 1
                        return int(rule["body_bytes"])
        return None

    def _track(self, *sockets: socket.socket) -> None:
        with self._lock:
            self._sockets.update(sockets)

    def _release(self, *sockets: socket.socket) -> None:
        with self._lock:
            self._sockets.difference_update(sockets)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(60)
            self._track(client)
            thread = threading.Thread(target=self._serve, args=(client,), name="cutting-proxy-conn", daemon=True)
            with self._lock:
                self._threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        pump: threading.Thread | None = None
        try:
            upstream = socket.create_connection(self.target, timeout=60)
            self._track(upstream)
            head = b""
            while b"\r\n" not in head:
                chunk = client.recv(65536)
                if not chunk:
                    return
                head += chunk
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            parts = request_line.split(" ")
            limit = self._rule_for(parts[1] if len(parts) > 1 else "")
            with self._lock:
                self.requests.append(request_line)
            # The spoke keeps its connection alive between calls; asking the hub to close after each answer brings
            # every request on a connection of its own, so a rule hits exactly the requests it names.
            line, rest = head.split(b"\r\n", 1)
            upstream.sendall(line + b"\r\nConnection: close\r\n" + rest)
            pump = threading.Thread(target=_pump, args=(client, upstream), name="cutting-proxy-pump", daemon=True)
            pump.start()
            self._answer(upstream, client, limit, request_line)
        except OSError:
            pass
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    _shutdown(sock)
            if pump is not None:
                pump.join(timeout=10)
            for sock in (client, upstream):
                if sock is not None:
                    self._release(sock)
                    sock.close()

    def _answer(self, upstream: socket.socket, client: socket.socket, body_bytes: int | None, request_line: str) -> None:
        forwarded = 0
        prefix = b""
        limit: int | None = None
        while True:
            chunk = upstream.recv(65536)
            if not chunk:
                return
            if body_bytes is not None and limit is None:
                prefix += chunk
                end = prefix.find(b"\r\n\r\n")
                if end >= 0:
                    limit = end + 4 + body_bytes
            if limit is not None and forwarded + len(chunk) >= limit:
                client.sendall(chunk[:limit - forwarded])
                forwarded = limit
                with self._lock:
                    self.cuts.append((request_line, forwarded))
                return  # the caller closes both connections
            client.sendall(chunk)
            forwarded += len(chunk)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def test_connection_cut_mid_answer_fails_the_round_and_the_next_one_completes(pinned_fed: Federation) -> None:
    fed = pinned_fed
    before = first_round(fed)
    codes = make_enterprises(fed)
    queued = outbox_size(fed)
    proxy = CuttingProxy(fed.hub_port)
    try:
        fed.point_spoke_at(NODE, proxy.url)
        assert fed.spoke_config(NODE)["issuer"] == fed.hub_url

        # Round A: the hub applies the second batch, but its answer is cut off part way through the body.
        proxy.cut("/api/v1/sync/push", body_bytes=10, skip=1)
        cut_push = fed.run_sync(NODE)
        failed = assert_failed(cut_push)
        assert [line.split(" ")[1] for line, _ in proxy.cuts] == ["/api/v1/sync/push"], proxy.requests
        assert "RemoteProtocolError" in failed["error"] or "peer closed" in failed["error"], failed
        status = fed.sync_status(NODE)
        assert status["last_error"] == failed["error"] and status["queued"] == failed["queued"] > 0, status
        # The cut batch was applied all the same: the hub holds more of the rows than the spoke saw acknowledged.
        acknowledged = len(codes) - int(scalar(spoke_db(fed), "SELECT COUNT(*) FROM sync_outbox WHERE entity = ?",
                                               "enterprise"))
        at_hub = hub_rows_with(fed, codes)
        assert 0 < acknowledged < len(at_hub) < len(codes), (acknowledged, len(at_hub))
        assert len({code for _, code in at_hub}) == len(at_hub)
        peer_error = scalar(hub_db(fed), "SELECT last_error FROM sync_peer WHERE node_id = ?", NODE)
        assert peer_error == failed["error"]  # the spoke reported the failed round to the hub

        # Round B: the push goes through (the cut batch again, answered from the hub's record; the last batch brings
        # the first pull page with its answer), the pull's next page is cut. (What the spoke pushed does not come
        # back: the pull carries the office's new rows, more than one page of them.)
        make_at_hub(fed, CUT_PAGE_ROWS + 30)
        proxy.cut("/api/v1/sync/pull", body_bytes=1000)
        cut_pull = fed.run_sync(NODE)
        failed = assert_failed(cut_pull)
        assert [line.split(" ")[1] for line, _ in proxy.cuts] == ["/api/v1/sync/push", "/api/v1/sync/pull"]
        assert outbox_size(fed) == 0 and failed["queued"] == 0, failed
        assert failed["pushed"] > 0 and failed["pulled"] == CUT_PAGE_ROWS, failed
        assert_hub_holds_each_once(fed, codes)
        status = fed.sync_status(NODE)
        assert status["last_error"] == failed["error"] and status["queued"] == 0, status

        # Healed: the next round completes.
        proxy.heal()
        runs = sync_until_done(fed)
        assert len(runs) == 1, [r.output() for r in runs]
        assert_completed(runs)
        assert len(proxy.cuts) == 2
        # Every change applied once: the batch whose answer was lost was answered again from the hub's record.
        assert hub_pushed_total(fed) == before["pushed_so_far"] + queued
        assert cut_push.summary["pushed"] + cut_pull.summary["pushed"] == queued
        # The hub's sync page no longer shows the node as failing: its last success is after its last error.
        success, error = query(hub_db(fed), "SELECT last_success_at, last_error_at FROM sync_peer WHERE node_id = ?",
                               NODE)[0]
        assert success and error and datetime.fromisoformat(success) > datetime.fromisoformat(error), (success, error)
    finally:
        proxy.close()
    assert_hub_holds_each_once(fed, codes)
    assert_spoke_equals_hub_scope(fed)
    assert_settled(fed)
