"""Signed checkpoints of the hub's audit chain, kept by the spokes as witnesses, and the verifier that uses them.

A checkpoint (the chain's last seq and hash at a time, signed with the hub's token key) is kept by every spoke, out
of reach of whoever can write the hub's database: a chain cut short or rewritten after it no longer has that hash
at that seq, even when the rewriter held the audit key.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from common.audit import trail as audit
from common.db import Database
from common.models import AuditEntry, AuditHead, utcnow
from common.audit.models import AuditCheckpoint
from common.settings import Settings
from hub.oauth import keys
from sync.directory import CHECKPOINTS_FILE

TYP = "lianfu-audit-checkpoint"
# A new checkpoint at most this often, and only once the chain has grown: spokes fetch their directory every few
# minutes, so each tail of the chain is witnessed within minutes while the table grows by a row per interval.
ISSUE_EVERY = timedelta(minutes=5)


@dataclass(frozen=True)
class ChainMark:
    seq: int
    hash: str
    keyed_from: int | None


@dataclass(frozen=True)
class Checkpoint:
    issued_at: datetime
    chains: dict[str, ChainMark]


def issue(session: Session, settings: Settings) -> AuditCheckpoint | None:
    """Sign where the hub's own chain stands now (None while it has no entry)."""
    head = session.get(AuditHead, settings.node_id)
    if head is None or head.seq == 0:
        return None
    now = utcnow()
    payload = {"typ": TYP, "hub": settings.node_id, "iat": now.timestamp(),
               "chains": {head.node_id: {"seq": head.seq, "hash": head.hash, "keyed_from": head.keyed_from}}}
    kid, token = keys.sign(session, settings, payload, TYP)
    row = AuditCheckpoint(issued_at=now, node_id=head.node_id, seq=head.seq, hash=head.hash, kid=kid, jws=token)
    session.add(row)
    session.flush()
    return row


def current(db: Database, settings: Settings) -> str | None:
    """The newest checkpoint, a new one issued first when the chain has grown since and the newest is older than
    ISSUE_EVERY. Decided in the database, so every hub worker issues alike (two racing issue two: harmless)."""
    with db.reads() as session:
        newest = session.scalars(select(AuditCheckpoint).where(AuditCheckpoint.node_id == settings.node_id)
                                 .order_by(AuditCheckpoint.issued_at.desc()).limit(1)).first()
        head = session.get(AuditHead, settings.node_id)
    if head is None or (newest is not None and (newest.seq >= head.seq or utcnow() - newest.issued_at < ISSUE_EVERY)):
        return newest.jws if newest is not None else None
    with db.transaction() as session:
        row = issue(session, settings)
    return row.jws if row is not None else None


def issuer(db: Database, settings: Settings) -> Callable[[], str | None]:
    """What the hub app hands the directory endpoint (sync/ cannot import the hub's signing keys)."""
    return lambda: current(db, settings)


# --- witnesses ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Witnessed:
    source: str
    token: str


class Untrusted(Exception):
    """A checkpoint whose signature does not verify against the hub's keys, or that does not read as one."""


def read_witness(path: Path) -> list[Witnessed]:
    """The checkpoints of a spoke's data dir or of an exported file: JSON lines with a `jws`, or bare tokens."""
    file = path / CHECKPOINTS_FILE if path.is_dir() else path
    found = []
    for number, raw in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        token = line
        if line.startswith("{"):
            try:
                token = str(json.loads(line).get("jws") or "")
            except (ValueError, AttributeError):
                token = ""
        found.append(Witnessed(f"{file}:{number}", token))
    return found


def in_database(session: Session) -> list[Witnessed]:
    """The hub's own copies: a writer who cuts the chain but leaves them is caught by them too."""
    rows = session.execute(select(AuditCheckpoint.id, AuditCheckpoint.jws).order_by(AuditCheckpoint.issued_at))
    return [Witnessed(f"database checkpoint {row_id}", token) for row_id, token in rows]


def open_checkpoint(token: str, trusted: dict[str, dict[str, Any]]) -> Checkpoint:
    try:
        header = jws.extract_compact(token.encode()).headers()
    except (JoseError, ValueError, UnicodeError) as exc:
        raise Untrusted(f"not a signed checkpoint ({exc.__class__.__name__})") from exc
    kid = header.get("kid")
    if header.get("typ") != TYP:
        raise Untrusted("not an audit checkpoint")
    if not isinstance(kid, str) or kid not in trusted:
        raise Untrusted(f"signed with a key that is not one of the hub's (kid {kid})")
    try:
        opened = jws.deserialize_compact(token, RSAKey.import_key(trusted[kid]), algorithms=[keys.ALG])
        payload = json.loads(opened.payload)
        chains = {node: ChainMark(int(mark["seq"]), str(mark["hash"]), mark.get("keyed_from"))
                  for node, mark in payload["chains"].items()}
        issued_at = datetime.fromtimestamp(float(payload["iat"]), timezone.utc)
    except JoseError as exc:
        raise Untrusted("its signature does not verify against the hub's keys") from exc
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise Untrusted(f"its content does not read as a checkpoint ({exc.__class__.__name__})") from exc
    if payload.get("typ") != TYP:
        raise Untrusted("not an audit checkpoint")
    return Checkpoint(issued_at, chains)


def _against_chain(session: Session, checkpoint: Checkpoint, source: str) -> list[audit.Break]:
    breaks = []
    when = checkpoint.issued_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    for node, mark in sorted(checkpoint.chains.items()):
        entry = session.scalars(select(AuditEntry).where(AuditEntry.node_id == node, AuditEntry.seq == mark.seq)).first()
        if entry is None:
            last = session.scalar(select(func.max(AuditEntry.seq)).where(AuditEntry.node_id == node)) or 0
            if last < mark.seq:
                reason = (f"the chain ends at entry {last}, but the checkpoint of {when} ({source}) witnessed it up to "
                          f"entry {mark.seq}: its tail was cut off")
            else:
                reason = f"entry {mark.seq}, witnessed by the checkpoint of {when} ({source}), is missing"
            breaks.append(audit.Break(node, mark.seq, "", reason))
        elif entry.hash != mark.hash:
            breaks.append(audit.Break(node, mark.seq, str(entry.id),
                                      f"it differs from the checkpoint of {when} ({source}): the chain was rewritten"))
        elif mark.keyed_from is not None:
            head = session.get(AuditHead, node)
            if head is None or head.keyed_from != mark.keyed_from:
                breaks.append(audit.Break(node, mark.keyed_from, "",
                                          f"the checkpoint of {when} ({source}) says the chain is keyed from entry "
                                          f"{mark.keyed_from}, its head says {head.keyed_from if head else 'nothing'}"))
    return breaks


@dataclass
class Report:
    """What `lianfu hub audit verify` found: breaks (chain and witnesses), checkpoints checked and refused."""

    breaks: list[audit.Break] = field(default_factory=list)
    tally: audit.Tally = field(default_factory=audit.Tally)
    checkpoints: int = 0
    untrusted: list[str] = field(default_factory=list)
    refused_keys: list[str] = field(default_factory=list)


def check(session: Session, settings: Settings | None, key: bytes | None, witnesses: list[Witnessed]) -> Report:
    """Walk every chain (keyed links with `key`), then hold the chains against every checkpoint, each once: the
    witnesses' and the database's own. A checkpoint that does not verify is reported, never used."""
    report = Report()
    own = settings.node_id if settings is not None else None
    report.breaks = list(audit.verify(session, key=key, tally=report.tally, keyed_node=own))
    trusted, report.refused_keys = keys.genuine(session, settings)
    seen: set[str] = set()
    # The witnesses first: a checkpoint held both outside and in the database is named by where it is safe.
    for witnessed in [*witnesses, *in_database(session)]:
        if witnessed.token and witnessed.token in seen:
            continue
        seen.add(witnessed.token)
        try:
            checkpoint = open_checkpoint(witnessed.token, trusted)
        except Untrusted as exc:
            report.untrusted.append(f"{witnessed.source}: {exc}")
            continue
        report.checkpoints += 1
        report.breaks.extend(_against_chain(session, checkpoint, witnessed.source))
    return report
