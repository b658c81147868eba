"""The hub's sync endpoints: push, pull, drops, digest and ids, for spokes' own credentials only."""
from __future__ import annotations

import dataclasses
import threading
import time
import zlib
from functools import lru_cache
from typing import Any

import anyio
import msgspec
from litestar import Request, Response, get, head, post, put
from litestar.exceptions import HTTPException, PermissionDeniedException
from litestar.params import FromPath, FromQuery

from common import i18n
from common.api.deps import Caller
from common.i18n import N_
from common.migrate import head_and_previous
from common.clock import clock
from common.models import SyncPeer, utcnow
from common.policy import Principal
from sync import hub_side
from sync.entities import BY_NAME
from sync.fastpath import statement_reads
from sync.wire import (
    MAX_BATCH_BYTES, MAX_BATCH_ROWS, MIN_PROTOCOL, PROTOCOL, PROTOCOL_HEADER, PULL_PAGE_ROWS, SCHEMA_HEADER, SEEN_PROTOCOL,
    DigestRequest, IdsAnswer, PullAnswer, PullRequest, PushBatch, TooLarge, decode, encode,
)

NO_CSRF = {"csrf_exempt": True}
# Seconds a spoke's "last seen / last success" may lag behind its quiet rounds (the sync page's resolution).
PEER_REFRESH = 15.0
JSON = "application/json"


class Upgrade(HTTPException):
    status_code = 426


class Busy(HTTPException):
    status_code = 503


@lru_cache(maxsize=1)
def _schemas() -> tuple[str, str | None]:
    return head_and_previous()


class _Slots:
    """At most `size` sync requests at once in this process; the rest are told when to come back."""

    def __init__(self, size: int) -> None:
        self._semaphore = threading.BoundedSemaphore(size)

    def __enter__(self) -> None:
        if not self._semaphore.acquire(blocking=False):
            raise Busy(i18n.gettext(N_("The hub is busy. Try again shortly.")), headers={"Retry-After": "5"})

    def __exit__(self, *_: Any) -> None:
        self._semaphore.release()


SLOTS = _Slots(16)


def check_peer(request: Request[Any, Any, Any], principal: Principal) -> None:
    """Only a spoke's own credentials, speaking a protocol and schema this hub still understands."""
    if principal.role != "spoke":
        raise PermissionDeniedException(i18n.gettext(N_("Only a node's own credentials can be used here.")))
    protocol = _protocol(request)
    head, previous = _schemas()
    if protocol < MIN_PROTOCOL:
        raise Upgrade(i18n.gettext(N_("This spoke speaks sync protocol {got}; the hub needs {need} or newer. Upgrade "
                                      "the spoke's Lianfu to the hub's release and restart it."), got=protocol,
                                   need=MIN_PROTOCOL))
    if protocol > PROTOCOL:
        raise Upgrade(i18n.gettext(N_("This spoke speaks sync protocol {got}, newer than the hub's {need}. Upgrade the "
                                      "hub first."), got=protocol, need=PROTOCOL))
    schema = request.headers.get(SCHEMA_HEADER, "")
    if schema not in (head, previous):
        raise Upgrade(i18n.gettext(N_("This spoke's database is at schema {got}; the hub is at {need} and accepts one "
                                      "release behind at most. Upgrade the spoke's Lianfu and restart it."),
                                   got=schema or "?", need=head))


def _protocol(request: Request[Any, Any, Any]) -> int:
    try:
        return int(request.headers.get(PROTOCOL_HEADER, "0"))
    except ValueError:
        return 0


def _scope(session: Any, principal: Principal) -> Principal:
    """The spoke's scope (its node and every node below it): resolved with its token in the same query, else read."""
    if principal.lineage and principal.node_id in principal.subtree:
        return dataclasses.replace(principal, username=f"node:{principal.node_id}")
    return hub_side.spoke_principal(session, principal.node_id)


async def _body(request: Request[Any, Any, Any], kind: type[Any]) -> Any:
    raw = await request.body()
    if len(raw) > MAX_BATCH_BYTES * 2:
        raise HTTPException(status_code=413, detail=i18n.gettext(N_("The batch is too large.")))
    try:
        return decode(raw, kind)
    except TooLarge:
        raise HTTPException(status_code=413, detail=i18n.gettext(N_("The batch is too large."))) from None
    # RecursionError: JSON nested past the decoder's depth, which no spoke sends.
    except (msgspec.DecodeError, msgspec.ValidationError, OSError, EOFError, zlib.error, RecursionError) as exc:
        raise HTTPException(status_code=400, detail=i18n.gettext(N_("The sync request is malformed: {reason}"),
                                                                 reason=str(exc)[:200])) from None


def _answer(value: Any) -> Response[bytes]:
    # Plain JSON here: the app's compression middleware gzips it for clients that accept it.
    return Response(encode(value, compress=False), media_type=JSON)


@post("/api/v1/sync/push", opt=NO_CSRF, tags=["sync"], status_code=200,
      summary="A spoke's batch of changes: checked against its scope and writers, merged field by field")
async def push(request: Request, principal: Caller) -> Response[bytes]:
    check_peer(request, principal)
    batch: PushBatch = await _body(request, PushBatch)
    if len(batch.changes) > MAX_BATCH_ROWS:
        raise HTTPException(status_code=413, detail=i18n.gettext(N_("The batch is too large.")))
    state = request.app.state

    def work() -> Any:
        with SLOTS, state.db.transaction() as session:
            spoke = _scope(session, principal)
            protocol = _protocol(request)
            answer = hub_side.apply_push(session, spoke, batch, state.settings.node_id)
            hub_side.peer(session, principal.node_id).protocol = protocol
            if batch.pull is not None:
                # Read in the batch's own transaction, after it: what the batch wrote is there, as a pull after its
                # commit would see it. (Written by then: the rows, conflicts, moves and batch record, flushed when
                # the peer row was read for update; the peer row's own changes go once, at the commit.)
                with session.no_autoflush:
                    page, quiet = _read_pull(session, request, spoke, batch.pull)
                _note_pull(session, request, principal, spoke, batch.pull, page, quiet)
                answer.page = page
            return answer

    return _answer(await anyio.to_thread.run_sync(work))


class _PeerNotes:
    """What this process last wrote of each spoke's round (values, when): a quiet round that would write the same
    again within PEER_REFRESH seconds reads and writes nothing of its peer row."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._notes: dict[str, tuple[dict[str, Any], float]] = {}

    def fresh(self, node_id: str, values: dict[str, Any]) -> bool:
        with self._lock:
            noted = self._notes.get(node_id)
        return noted is not None and noted[0] == values and time.monotonic() - noted[1] < PEER_REFRESH

    def note(self, node_id: str, values: dict[str, Any] | None) -> None:
        with self._lock:
            if values is None:
                self._notes.pop(node_id, None)
            else:
                self._notes[node_id] = (dict(values), time.monotonic())


PEER_NOTES = _PeerNotes()


def _peer_values(request: Request[Any, Any, Any], theirs: DigestRequest, mismatched: list[str]) -> dict[str, Any]:
    return {"queued": max(0, theirs.queued), "lag_seconds": max(0.0, float(theirs.lag_seconds or 0.0)),
            "digest_ok": not mismatched, "schema": request.headers.get(SCHEMA_HEADER, "")[:32]}


def _note_peer(session: Any, node_id: str, values: dict[str, Any]) -> None:
    """Write a spoke's round to its peer row when something changed, else every PEER_REFRESH seconds."""
    seen = session.get(SyncPeer, node_id)
    fresh = (seen is not None and seen.last_success_at is not None and values["digest_ok"]
             and all(getattr(seen, k) == v for k, v in values.items())
             and (utcnow() - seen.last_success_at).total_seconds() < PEER_REFRESH)
    if not fresh:
        record = hub_side.peer(session, node_id)
        for key, value in values.items():
            setattr(record, key, value)
        if values["digest_ok"]:
            record.last_success_at = record.last_seen_at
    PEER_NOTES.note(node_id, values if values["digest_ok"] else None)


def _mismatched(found: hub_side.Marks, theirs: DigestRequest) -> list[str]:
    """The entities whose digest at the spoke differs from the hub's view of its scope."""
    return sorted(name for name, value in found.digest.items() if theirs.digests.get(name) != value)


def _check_digest(session: Any, request: Request[Any, Any, Any], spoke: Any, theirs: DigestRequest) -> dict[str, Any]:
    """Compare a spoke's digest with the hub's view of its scope; a match is the end of a successful round."""
    found, conflicts = hub_side.marks_and_conflicts(session, spoke)
    mismatched = _mismatched(found, theirs)
    _note_peer(session, spoke.node_id, _peer_values(request, theirs, mismatched))
    return {"mismatched": mismatched, "open_conflicts": conflicts}


def _quiet_round(request: Request[Any, Any, Any], spoke: Any, wanted: PullRequest, found: hub_side.Marks,
                 conflicts: int, read_at: int, horizons: bool) -> tuple[PullAnswer, dict[str, Any] | None] | None:
    """A round with nothing to do, answered from the marks the triggers keep (`found`, read after `read_at`): no
    table is read. None when the marks show something after the spoke's cursors (an ordinary pull follows). With
    the answer, the values to write to the spoke's peer row (None: this process wrote the same less than
    PEER_REFRESH seconds ago)."""
    if wanted.digest is None or wanted.drops_since is None:
        return None
    if not found.nothing_after(wanted.cursors) or found.moved > wanted.drops_since:
        return None
    cursors = {}
    for name, value in wanted.cursors.items():
        # Nothing after the cursor, nor then between it and the rows seen before (see SEEN).
        start, seen = hub_side._cursor(value), hub_side._seen(value) if horizons else None
        cursors[name] = hub_side._cursor_out(max(start, seen[0]) if seen else start, read_at,
                                             found.horizon if horizons else None)
    answer = PullAnswer(rows=[], cursors=cursors, more=False, read_at=read_at, drops_cursor=wanted.drops_since,
                        drops_checked=True)
    mismatched = _mismatched(found, wanted.digest)
    answer.digest = {"mismatched": mismatched, "open_conflicts": conflicts}
    values = _peer_values(request, wanted.digest, mismatched)
    return answer, None if PEER_NOTES.fresh(spoke.node_id, values) else values


def _read_pull(session: Any, request: Request[Any, Any, Any], spoke: Any,
               wanted: PullRequest) -> tuple[PullAnswer, tuple[dict[str, Any] | None] | None]:
    """A pull page of the spoke's scope after its cursors. With it, for a quiet round (nothing to do), a 1-tuple of
    the values to note on its peer row (None: noted less than PEER_REFRESH seconds ago); else None."""
    limit = max(1, min(wanted.limit, PULL_PAGE_ROWS))
    read_at = clock.now()  # before the marks: see OVERLAP in sync/wire.py
    found, conflicts = hub_side.marks_and_conflicts(session, spoke)
    horizons = _protocol(request) >= SEEN_PROTOCOL
    quiet = _quiet_round(request, spoke, wanted, found, conflicts, read_at, horizons)
    if quiet is not None:
        quiet[0].directory = found.directory
        return quiet[0], (quiet[1],)
    answer = hub_side.pull_page(session, spoke, wanted.cursors, limit, found, read_at, horizons)
    answer.directory = found.directory
    if not answer.more and wanted.drops_since is not None:
        if found.moved > wanted.drops_since:
            answer.drops, answer.drops_cursor = hub_side.drops_since(session, spoke, wanted.drops_since)
        else:
            # The marks show no move out of the scope's nodes after the spoke's look (as a quiet round tells).
            answer.drops, answer.drops_cursor = [], wanted.drops_since
        answer.drops_checked = True
    if _settles(wanted, answer) and (answer.rows or answer.drops or wanted.digest is None):
        # The spoke compares this with its own digest once the page and the drops are applied (its digest sent with
        # the request is from before them), and asks for a verdict only when they differ: the round ends without
        # another request.
        answer.hub_digest, answer.open_conflicts = found.digest, conflicts
    return answer, None


def _settles(wanted: PullRequest, answer: PullAnswer) -> bool:
    """Whether this page ends the spoke's round (its last, when the round's digest is compared)."""
    return (wanted.digest is not None or wanted.want_digest) and not answer.more


def _notes_pull(answer: PullAnswer, wanted: PullRequest, quiet: tuple[dict[str, Any] | None] | None) -> bool:
    """Whether serving this page writes to the spoke's peer row."""
    return quiet[0] is not None if quiet is not None else bool(answer.rows) or _settles(wanted, answer)


def _note_pull(session: Any, request: Request[Any, Any, Any], principal: Principal, spoke: Any, wanted: PullRequest,
               answer: PullAnswer, quiet: tuple[dict[str, Any] | None] | None) -> None:
    """The page's mark on the spoke's peer row (rows pulled, cursor, a round's success), in the caller's transaction."""
    if not _notes_pull(answer, wanted, quiet):
        return
    if quiet is not None:
        _note_peer(session, spoke.node_id, quiet[0])
        return
    settles = _settles(wanted, answer)
    record = hub_side.peer(session, principal.node_id)
    record.pulled_total += len(answer.rows)
    record.cursor = max([record.cursor, *(int(c[0]) for c in answer.cursors.values() if c)])
    if settles and answer.hub_digest is None:
        answer.digest = _check_digest(session, request, spoke, wanted.digest)
    elif settles:
        values = _peer_values(request, wanted.digest or DigestRequest({}), [])
        record.queued, record.lag_seconds, record.schema = values["queued"], values["lag_seconds"], values["schema"]
        record.last_success_at = record.last_seen_at
        PEER_NOTES.note(spoke.node_id, None)


@post("/api/v1/sync/pull", opt=NO_CSRF, tags=["sync"], status_code=200,
      summary="The next rows of the spoke's scope after its cursors")
async def pull(request: Request, principal: Caller) -> Response[bytes]:
    check_peer(request, principal)
    wanted: PullRequest = await _body(request, PullRequest)
    state = request.app.state

    def work() -> Any:
        with SLOTS:
            with statement_reads(state.db) as session:
                spoke = _scope(session, principal)
                answer, quiet = _read_pull(session, request, spoke, wanted)
            if _notes_pull(answer, wanted, quiet):
                with state.db.transaction() as session:
                    _note_pull(session, request, principal, spoke, wanted, answer, quiet)
            return answer

    return _answer(await anyio.to_thread.run_sync(work))


@get("/api/v1/sync/drops", tags=["sync"], summary="Rows that left the spoke's scope since a version")
async def drops(request: Request, principal: Caller, since: FromQuery[int] = 0) -> Response[bytes]:
    check_peer(request, principal)
    state = request.app.state

    def work() -> Any:
        with state.db.reads() as session:
            spoke = _scope(session, principal)
            found, cursor = hub_side.drops_since(session, spoke, since)
            return {"drops": found, "cursor": cursor}

    return _answer(await anyio.to_thread.run_sync(work))


@post("/api/v1/sync/digest", opt=NO_CSRF, tags=["sync"], status_code=200,
      summary="Compare the spoke's digest of its scope with the hub's; the end of a successful round")
async def digest(request: Request, principal: Caller) -> Response[bytes]:
    check_peer(request, principal)
    theirs: DigestRequest = await _body(request, DigestRequest)
    state = request.app.state

    def work() -> Any:
        with state.db.transaction() as session:
            return _check_digest(session, request, _scope(session, principal), theirs)

    return _answer(await anyio.to_thread.run_sync(work))


@get("/api/v1/sync/ids", tags=["sync"], summary="Every id of one entity in the spoke's scope (to repair a drift)")
async def ids(request: Request, principal: Caller, entity: FromQuery[str]) -> Response[bytes]:
    check_peer(request, principal)
    kind = BY_NAME.get(entity)
    if kind is None or not kind.pull:
        raise HTTPException(status_code=400, detail=i18n.gettext(N_("No such entity")))
    state = request.app.state

    def work() -> Any:
        with state.db.reads() as session:
            spoke = _scope(session, principal)
            return IdsAnswer(entity, hub_side.scoped_ids(session, spoke, kind))

    return _answer(await anyio.to_thread.run_sync(work))


@post("/api/v1/sync/report", opt=NO_CSRF, tags=["sync"], status_code=200, summary="A spoke reports a failed round")
async def report(request: Request, principal: Caller) -> dict[str, Any]:
    check_peer(request, principal)
    body = await _body(request, dict[str, Any])
    state = request.app.state

    def work() -> None:
        with state.db.transaction() as session:
            record = hub_side.peer(session, principal.node_id)
            record.last_error = str(body.get("error", ""))[:500]
            PEER_NOTES.note(principal.node_id, None)
            record.last_error_at = record.last_seen_at

    await anyio.to_thread.run_sync(work)
    return {"ok": True}


# --- attachments' bytes -----------------------------------------------------------------------------------------

def _blob_in_scope(state: Any, principal: Principal, sha: str) -> bool:
    from sqlalchemy import select

    from common import policy
    from common.models import Attachment

    with state.db.reads() as session:
        spoke = _scope(session, principal)
        return session.scalar(select(Attachment.id).where(Attachment.sha256 == sha,
                                                          policy.in_scope(Attachment, spoke)).limit(1)) is not None


async def _checked_blob(request: Request[Any, Any, Any], principal: Principal, sha: str) -> Any:
    check_peer(request, principal)
    store = request.app.state.blobs
    if not store.valid(sha) or not await anyio.to_thread.run_sync(_blob_in_scope, request.app.state, principal, sha):
        # No attachment of this node names it: the same answer whether the file exists or not.
        raise HTTPException(status_code=404, detail=i18n.gettext(N_("No such file")))
    return store


@head("/api/v1/sync/blobs/{sha:str}", tags=["sync"], summary="How much of a file the hub holds (to resume a transfer)")
async def blob_offset(request: Request, principal: Caller, sha: FromPath[str]) -> Response[None]:
    store = await _checked_blob(request, principal, sha)
    return Response(None, headers={"Upload-Offset": str(store.offset(sha)), "Blob-Complete": "1" if store.has(sha) else "0"})


@put("/api/v1/sync/blobs/{sha:str}", opt=NO_CSRF, tags=["sync"], status_code=200,
     summary="Send (part of) a file a spoke's attachment names; verified against its sha256 when complete")
async def blob_upload(request: Request, principal: Caller, sha: FromPath[str]) -> dict[str, Any]:
    store = await _checked_blob(request, principal, sha)
    if store.has(sha):
        return {"offset": store.offset(sha), "complete": True}
    try:
        offset = int(request.headers.get("Upload-Offset", "-1"))
    except ValueError:
        offset = -1
    chunk = await request.body()
    if len(chunk) > MAX_BATCH_BYTES * 2:
        raise HTTPException(status_code=413, detail=i18n.gettext(N_("The batch is too large.")))
    state = request.app.state

    def work() -> dict[str, Any]:
        from common import audit
        from common.blobs import BlobMismatch

        try:
            size = store.append(sha, offset, chunk)
        except ValueError:
            raise HTTPException(status_code=409, detail=i18n.gettext(N_("Resume from byte {offset}."), offset=store.offset(sha)),
                                headers={"Upload-Offset": str(store.offset(sha))}) from None
        if request.headers.get("Upload-Complete") == "1":
            try:
                store.complete(sha)
            except BlobMismatch:
                with state.db.transaction() as session:
                    audit.record(session, state.settings.node_id, "security.blob_refused", actor=principal.username[:64],
                                 entity_type="attachment", entity_id=sha, detail={"node": principal.node_id,
                                                                                 "reason": "content does not match its sha256"})
                raise HTTPException(status_code=422, detail=i18n.gettext(N_("The file does not match its checksum; "
                                                                             "it was thrown away."))) from None
            return {"offset": size, "complete": True}
        return {"offset": size, "complete": False}

    return await anyio.to_thread.run_sync(work)


@get("/api/v1/sync/blobs/{sha:str}", tags=["sync"], summary="A file an attachment of the spoke's scope names; Range resumes")
async def blob_download(request: Request, principal: Caller, sha: FromPath[str]) -> Response[Any]:
    from litestar.response import Stream

    store = await _checked_blob(request, principal, sha)
    if not store.has(sha):
        raise HTTPException(status_code=404, detail=i18n.gettext(N_("No such file")))
    size = store.offset(sha)
    start = 0
    ranged = request.headers.get("Range", "")
    if ranged.startswith("bytes=") and ranged[6:].rstrip("-").isdigit():
        start = min(int(ranged[6:].rstrip("-")), size)
    headers = {"Content-Range": f"bytes {start}-{max(size - 1, start)}/{size}"} if ranged else {}
    return Stream(store.read(sha, start), status_code=206 if ranged else 200, media_type="application/octet-stream",
                  headers=headers)


SYNC_HANDLERS = [push, pull, drops, digest, ids, report, blob_offset, blob_upload, blob_download]
