"""The sync wire protocol: msgspec structs in JSON, gzipped; the protocol version and schema revision in headers."""
from __future__ import annotations

import gzip
import zlib
from typing import Any

import msgspec

# 3: a push's answer stamps the hub's versions on the rows it took whole, and pulls skip them.
# 4: a spoke's last batch of a round asks for the first pull page too (PushBatch.pull), answered with it.
# 5: a pull's cursors carry the read's horizon; a pull that starts before the rows a spoke has seen skips them (SEEN).
PROTOCOL = 5
# The oldest spoke protocol the hub still serves: one release behind.
MIN_PROTOCOL = 4
# From this protocol on, a spoke takes and sends back the horizons of its cursors.
SEEN_PROTOCOL = 5
PROTOCOL_HEADER = "Lianfu-Sync-Protocol"
SCHEMA_HEADER = "Lianfu-Schema"
# The hub's lineage as the spoke last saw it (see sync/hub/lineage.py): a hub with another one answers 409 with its own.
LINEAGE_HEADER = "Lianfu-Hub-Lineage"
# Rows a heal request carries at most.
HEAL_ROWS = 500
MAX_BATCH_ROWS = 2000
MAX_BATCH_BYTES = 4 * 1024 * 1024
# A gzipped body may inflate to this much and no more: only the compressed size is bounded by the transport, and a few
# hundred kilobytes of gzip can hold gigabytes of zeros. A spoke keeps its batches under it too (see fits).
MAX_INFLATED_BYTES = 8 * MAX_BATCH_BYTES
PULL_PAGE_ROWS = 2000
# A row can become visible after a read that passed its version only if its transaction was still running at the
# read: its version is then above read_at − OVERLAP (HLC units: milliseconds << 16). A pull resumes from
# min(cursor, read_at − OVERLAP); re-sent rows apply as no-ops.
OVERLAP = 10_000 << 16
# SEEN. The rows a pull resumed before its cursor sends again are mostly rows the spoke already has. On PostgreSQL
# the hub answers each cursor with the read's horizon (the oldest transaction still running when the read began: a
# row written by a transaction below it was seen by the read). A pull that starts before the position it had read
# to sends [start version, "", position version, position id, horizon]; the hub then skips the rows at or before
# that position written below that horizon: the spoke has every one of them (the read sent it, or the read before,
# by the same rule). Rows written by transactions still running then, or later, are read as before.


class Change(msgspec.Struct, forbid_unknown_fields=True):
    """One row's change as a spoke sends it: the whole row when made, else the changed fields."""

    entity: str
    id: str
    values: dict[str, Any]
    # Each sent field's version ([hlc, node]) and, for an edit, its version before the edit.
    fv: dict[str, Any] = {}
    prior: dict[str, Any] | None = None
    made: bool = False
    actor: str | None = None
    # An edit's whole row's field versions at the spoke, with the edit: when the hub's merge ends with the same, the
    # spoke holds the merged row exactly, and the answer stamps the hub's version on it.
    row_fv: dict[str, Any] | None = None


class DigestRequest(msgspec.Struct, forbid_unknown_fields=True):
    digests: dict[str, list[int]]  # entity -> [count, checksum]
    queued: int = 0
    lag_seconds: float | None = None


class PullRequest(msgspec.Struct, forbid_unknown_fields=True):
    cursors: dict[str, list[Any]] = {}
    limit: int = PULL_PAGE_ROWS
    # Sent with the first page: when nothing is new, the last page also answers the drops and the digest, so a
    # round with nothing to do is one request.
    drops_since: int | None = None
    digest: DigestRequest | None = None
    # Sent with the pages after the first (the spoke has applied rows since its digest): the last page carries the
    # hub's digest for the spoke to compare itself.
    want_digest: bool = False


class PushBatch(msgspec.Struct, forbid_unknown_fields=True):
    batch_id: str
    changes: list[Change]
    # The last outbox entry this batch covers, acknowledged back so the spoke can let go of it.
    upto: int = 0
    # With the round's last batch: the first pull page, read once the batch is applied (one request, not two).
    pull: PullRequest | None = None


class Rejected(msgspec.Struct):
    entity: str
    id: str
    reason: str


class PullRow(msgspec.Struct):
    entity: str
    values: dict[str, Any]
    # A bulletin's target nodes within the spoke's subtree (who it is addressed to there).
    audience: list[str] | None = None


class Drop(msgspec.Struct):
    entity: str
    id: str


class PullAnswer(msgspec.Struct):
    rows: list[PullRow]
    # Per entity, [version, id] of the last row sent: the next page (or round) starts after it.
    cursors: dict[str, list[Any]]
    more: bool
    drops: list[Drop] = []
    drops_cursor: int = 0
    # The hub's clock when it read this page: a row committed after the read has a version above read_at − OVERLAP.
    read_at: int = 0
    drops_checked: bool = False
    # On a last page with no rows, the hub's verdict on the digest sent with the first: mismatched, open_conflicts.
    digest: dict[str, Any] | None = None
    # On a last page with rows (when a digest was sent with the first): the hub's digest of the scope as it read it,
    # for the spoke to compare once it has applied the page, and the scope's open conflicts.
    hub_digest: dict[str, list[int]] | None = None
    open_conflicts: int | None = None
    # The tag of the spoke's directory at the hub (its node's accounts, the nodes, the office's lists): when it is
    # not the one the spoke took with its copy, the spoke fetches the directory again (an account the office
    # disabled is disabled at the spoke by its next round, with no request while nothing changed).
    directory: str | None = None
    # The hub's lineage (sync/hub/lineage.py): the spoke keeps it and sends it with its requests.
    lineage: str | None = None


class PushAnswer(msgspec.Struct):
    batch_id: str
    applied: int
    conflicts: int
    rejected: list[Rejected]
    upto: int
    duplicate: bool = False
    # [entity, id, version, updated_at] of each row the hub now holds exactly as the spoke does: the spoke takes the
    # hub's version and time for it, and its pulls skip it (it is not pulled back).
    stamps: list[list[Any]] = []
    # The pull page the batch asked for (PushBatch.pull), read after the batch was applied.
    page: PullAnswer | None = None


class HealRow(msgspec.Struct, forbid_unknown_fields=True):
    """A row as the spoke holds it, sent again to a hub restored from a backup: its values and field versions."""

    entity: str
    values: dict[str, Any]
    fv: dict[str, Any] = {}


class HealBatch(msgspec.Struct, forbid_unknown_fields=True):
    """Rows of the spoke's scope sent again, after the hub's lineage changed from `from_lineage`; `done` with the
    last (the spoke has sent every row it holds)."""

    from_lineage: str
    rows: list[HealRow] = []
    done: bool = False
    sent: int = 0  # with `done`: how many rows the spoke sent in all


class HealAnswer(msgspec.Struct):
    """How many of the rows the hub lacked (`added`) or held older (`updated`); those it kept as they were."""

    added: int = 0
    updated: int = 0
    kept: int = 0
    refused: int = 0


class DigestAnswer(msgspec.Struct):
    mismatched: list[str]


class IdsAnswer(msgspec.Struct):
    entity: str
    ids: list[str]


_encoder = msgspec.json.Encoder()


def encode(value: Any, compress: bool = True) -> bytes:
    raw = _encoder.encode(value)
    return gzip.compress(raw, compresslevel=1) if compress else raw


def fits(value: Any, limit: int) -> bool:
    """Whether `value` encoded (gzipped, as sent) takes at most `limit` bytes, and inflates to what the hub takes:
    without compressing it when its plain JSON already does (a batch of a few hundred rows, the usual case)."""
    raw = _encoder.encode(value)
    if len(raw) <= limit:
        return True
    return len(raw) <= MAX_INFLATED_BYTES and len(gzip.compress(raw, compresslevel=1)) <= limit


class TooLarge(ValueError):
    """A gzipped body that inflates past the limit; refused before it is inflated any further."""


def inflate(body: bytes, limit: int = MAX_INFLATED_BYTES) -> bytes:
    """The gzip `body` inflated, refused (TooLarge) as soon as its output would pass `limit` bytes; EOFError when it
    is cut short, zlib.error when it is not gzip."""
    parts: list[bytes] = []
    left = limit
    rest = body
    # gzip allows several members end to end (gzip.decompress reads them all): each one counts towards the limit.
    while rest:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        # At most one byte past what is left: that byte proves the body too large without inflating any more of it.
        part = inflater.decompress(rest, left + 1)
        if len(part) > left:
            raise TooLarge(f"inflates to more than {limit} bytes")
        if not inflater.eof:
            raise EOFError("the compressed body ends before its end-of-stream marker")
        left -= len(part)
        parts.append(part)
        rest = inflater.unused_data
    return parts[0] if len(parts) == 1 else b"".join(parts)


def decode(body: bytes, kind: type[Any], limit: int = MAX_INFLATED_BYTES) -> Any:
    """Decode a (possibly gzipped) body; raises TooLarge when it inflates past `limit`, msgspec.ValidationError /
    DecodeError on a malformed one."""
    if body[:2] == b"\x1f\x8b":
        body = inflate(body, limit)
    return msgspec.json.decode(body, type=kind)
