"""The hub's sync endpoints: push, pull, drops, digest and ids, for spokes' own credentials only."""
from __future__ import annotations

import dataclasses
import threading
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
from common.ops.metrics import note_sync_call
from common.policy import Principal
from sync import hub
from sync.entities import BY_NAME
from sync.fastpath import statement_reads
from sync.hub import Asker
from sync.hub.rounds import settles
from sync.wire import (
    HEAL_ROWS, LINEAGE_HEADER, MAX_BATCH_BYTES, MAX_BATCH_ROWS, MIN_PROTOCOL, PROTOCOL, PROTOCOL_HEADER, SCHEMA_HEADER,
    SEEN_PROTOCOL, DigestRequest, HealBatch, IdsAnswer, PullRequest, PushBatch, TooLarge, decode, encode,
)
from sync.hub import heal as hub_heal, lineage

NO_CSRF = {"csrf_exempt": True}
JSON = "application/json"


class Upgrade(HTTPException):
    status_code = 426


class Busy(HTTPException):
    status_code = 503


class LineageChanged(HTTPException):
    """The spoke last synced with another history of this hub (it was restored from a backup): it heals first."""

    status_code = 409


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


def check_peer(request: Request[Any, Any, Any], principal: Principal, lineage_checked: bool = True) -> None:
    """Only a spoke's own credentials, speaking a protocol and schema this hub still understands; with
    `lineage_checked`, one that last synced with this hub's history (see sync/hub/lineage.py)."""
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
    known = request.headers.get(LINEAGE_HEADER)
    if lineage_checked and known:
        mine = lineage.current(request.app.state.db)
        if known != mine:
            raise LineageChanged(i18n.gettext(N_("The hub was restored from a backup: send again the rows of this "
                                                 "node's scope (a sync does it by itself).")),
                                 headers={LINEAGE_HEADER: mine})


def _protocol(request: Request[Any, Any, Any]) -> int:
    try:
        return int(request.headers.get(PROTOCOL_HEADER, "0"))
    except ValueError:
        return 0


def _scope(session: Any, principal: Principal) -> Principal:
    """The spoke's scope (its node and every node below it): resolved with its token in the same query, else read."""
    if principal.lineage and principal.node_id in principal.subtree:
        return dataclasses.replace(principal, username=f"node:{principal.node_id}")
    return hub.spoke_principal(session, principal.node_id)


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


def _asker(request: Request[Any, Any, Any]) -> Asker:
    protocol = _protocol(request)
    return Asker(protocol, request.headers.get(SCHEMA_HEADER, ""), horizons=protocol >= SEEN_PROTOCOL)


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
        mine = lineage.current(state.db)  # (made, the first time, in a transaction of its own)
        with SLOTS, state.db.transaction() as session:
            spoke = _scope(session, principal)
            asker = _asker(request)
            answer = hub.apply_push(session, spoke, batch, state.settings.node_id)
            hub.peer(session, principal.node_id).protocol = asker.protocol
            if batch.pull is not None:
                # Read in the batch's own transaction, after it: what the batch wrote is there, as a pull after its
                # commit would see it. (Written by then: the rows, conflicts, moves and batch record, flushed when
                # the peer row was read for update; the peer row's own changes go once, at the commit.)
                with session.no_autoflush:
                    page, quiet = hub.read_pull(session, asker, spoke, batch.pull)
                hub.note_pull(session, asker, principal.node_id, spoke, batch.pull, page, quiet)
                page.lineage = mine
                answer.page = page
            return answer

    answer = await anyio.to_thread.run_sync(work)
    page = answer.page
    note_sync_call(principal.node_id, "push", pushed=len(batch.changes), pulled=len(page.rows) if page else 0,
                   round_outcome=_round_outcome(batch.pull, page))
    return _answer(answer)


def _round_outcome(wanted: PullRequest | None, page: Any) -> str | None:
    """How the round a pull page ends went (None: it ends none): its digest compared alike, or not."""
    if wanted is None or page is None or not settles(wanted, page):
        return None
    mismatched = (page.digest or {}).get("mismatched") if isinstance(page.digest, dict) else None
    return "mismatched" if mismatched else "completed"


@post("/api/v1/sync/pull", opt=NO_CSRF, tags=["sync"], status_code=200,
      summary="The next rows of the spoke's scope after its cursors")
async def pull(request: Request, principal: Caller) -> Response[bytes]:
    check_peer(request, principal)
    wanted: PullRequest = await _body(request, PullRequest)
    state = request.app.state
    asker = _asker(request)

    def work() -> Any:
        with SLOTS:
            with statement_reads(state.db) as session:
                spoke = _scope(session, principal)
                answer, quiet = hub.read_pull(session, asker, spoke, wanted)
            if hub.notes_pull(answer, wanted, quiet):
                with state.db.transaction() as session:
                    hub.note_pull(session, asker, principal.node_id, spoke, wanted, answer, quiet)
            answer.lineage = lineage.current(state.db)
            return answer

    answer = await anyio.to_thread.run_sync(work)
    note_sync_call(principal.node_id, "pull", pulled=len(answer.rows), round_outcome=_round_outcome(wanted, answer))
    return _answer(answer)


@get("/api/v1/sync/drops", tags=["sync"], summary="Rows that left the spoke's scope since a version")
async def drops(request: Request, principal: Caller, since: FromQuery[int] = 0) -> Response[bytes]:
    check_peer(request, principal)
    state = request.app.state

    def work() -> Any:
        with state.db.reads() as session:
            spoke = _scope(session, principal)
            found, cursor = hub.drops_since(session, spoke, since)
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
            return hub.check_digest(session, _asker(request), _scope(session, principal), theirs)

    answer = await anyio.to_thread.run_sync(work)
    note_sync_call(principal.node_id, "digest", round_outcome="mismatched" if answer.get("mismatched") else "completed")
    return _answer(answer)


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
            return IdsAnswer(entity, hub.scoped_ids(session, spoke, kind))

    return _answer(await anyio.to_thread.run_sync(work))


@post("/api/v1/sync/report", opt=NO_CSRF, tags=["sync"], status_code=200, summary="A spoke reports a failed round")
async def report(request: Request, principal: Caller) -> dict[str, Any]:
    check_peer(request, principal)
    body = await _body(request, dict[str, Any])
    state = request.app.state

    def work() -> None:
        with state.db.transaction() as session:
            record = hub.peer(session, principal.node_id)
            record.last_error = str(body.get("error", ""))[:500]
            record.last_error_at = record.last_seen_at

    await anyio.to_thread.run_sync(work)
    note_sync_call(principal.node_id, "report", round_outcome="failed")
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
    # Queries when the files are in the hub's database: in a worker thread, not on the event loop.
    offset, complete = await anyio.to_thread.run_sync(lambda: (store.offset(sha), store.has(sha)))
    return Response(None, headers={"Upload-Offset": str(offset), "Blob-Complete": "1" if complete else "0"})


@put("/api/v1/sync/blobs/{sha:str}", opt=NO_CSRF, tags=["sync"], status_code=200,
     summary="Send (part of) a file a spoke's attachment names; verified against its sha256 when complete")
async def blob_upload(request: Request, principal: Caller, sha: FromPath[str]) -> dict[str, Any]:
    store = await _checked_blob(request, principal, sha)
    held = await anyio.to_thread.run_sync(lambda: store.offset(sha) if store.has(sha) else None)
    if held is not None:
        return {"offset": held, "complete": True}
    try:
        offset = int(request.headers.get("Upload-Offset", "-1"))
    except ValueError:
        offset = -1
    chunk = await request.body()
    if len(chunk) > MAX_BATCH_BYTES * 2:
        raise HTTPException(status_code=413, detail=i18n.gettext(N_("The batch is too large.")))
    state = request.app.state

    def work() -> dict[str, Any]:
        from common.audit import trail as audit
        from common.attachments.blobs import BlobMismatch

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
    size = await anyio.to_thread.run_sync(lambda: store.offset(sha) if store.has(sha) else None)
    if size is None:
        raise HTTPException(status_code=404, detail=i18n.gettext(N_("No such file")))
    start = 0
    ranged = request.headers.get("Range", "")
    if ranged.startswith("bytes=") and ranged[6:].rstrip("-").isdigit():
        start = min(int(ranged[6:].rstrip("-")), size)
    headers = {"Content-Range": f"bytes {start}-{max(size - 1, start)}/{size}"} if ranged else {}
    return Stream(store.read(sha, start), status_code=206 if ranged else 200, media_type="application/octet-stream",
                  headers=headers)


@post("/api/v1/sync/heal", opt=NO_CSRF, tags=["sync"], status_code=200,
      summary="Rows of the spoke's scope sent again to a hub restored from a backup; kept where the hub lacks them")
async def heal(request: Request, principal: Caller) -> Response[bytes]:
    check_peer(request, principal, lineage_checked=False)
    batch: HealBatch = await _body(request, HealBatch)
    if len(batch.rows) > HEAL_ROWS:
        raise HTTPException(status_code=413, detail=i18n.gettext(N_("The batch is too large.")))
    state = request.app.state

    def work() -> Any:
        from common.audit import trail as audit

        with SLOTS, state.db.transaction() as session:
            spoke = _scope(session, principal)
            if not lineage.may_heal(session, principal.node_id, batch.from_lineage):
                # Not a spoke of an earlier history of this hub, or one that has sent everything already.
                audit.record(session, state.settings.node_id, "security.heal_refused", actor=spoke.username[:64],
                             entity_type="node", entity_id=principal.node_id,
                             detail={"node": principal.node_id, "from_lineage": batch.from_lineage[:64]})
                refused = True
            else:
                refused = False
                answer = hub_heal.apply_heal(session, spoke, batch.rows)
                totals = lineage.add_progress(session, principal.node_id, len(batch.rows), answer)
                if batch.done:
                    hub_heal.record_heal(session, state.settings.node_id, spoke, totals, batch.from_lineage)
                    lineage.healed(session, principal.node_id)
        if refused:
            raise HTTPException(status_code=409, detail=i18n.gettext(N_("This node has no heal to make with this hub.")))
        return answer

    return _answer(await anyio.to_thread.run_sync(work))


SYNC_HANDLERS = [push, pull, drops, digest, ids, report, heal, blob_offset, blob_upload, blob_download]
