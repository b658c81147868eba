"""A node's backup as one file: a tar of its parts (the database, files of its data dir) and a manifest naming each
part's sha256, written atomically with mode 0600, read back only when every part matches its manifest."""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import sqlite3
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, Iterator

FORMAT = 1
MANIFEST = "manifest.json"
CHUNK = 1024 * 1024


class BackupError(Exception):
    """A backup that cannot be made or read; the message says why, in one line."""


@contextlib.contextmanager
def in_one_line(action: str, path: object, *also: type[Exception]) -> Iterator[None]:
    """A backup command's failure as one line on stderr and exit 2: its own refusals (BackupError and `also`) as they
    say, a file it cannot write or read as the system says. A path the command may not use at all is left to the
    CLI's own line and exit 4 (common/cli.py: file_failure)."""
    from common.cli import file_failure

    try:
        yield
    except (BackupError, *also) as exc:
        _fail(str(exc))
    except OSError as exc:
        if file_failure(exc):
            raise
        _fail(f"cannot {action} {path}: {exc.strerror or exc}")


def _fail(message: str) -> None:
    import click

    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def lianfu_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lianfu")
    except PackageNotFoundError:
        return "0"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _Hashing(io.RawIOBase):
    """A file read through, its sha256 taken on the way (tarfile reads a member's bytes from it)."""

    def __init__(self, handle: BinaryIO, progress: "Progress") -> None:
        self.handle = handle
        self.digest = hashlib.sha256()
        self.progress = progress

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        chunk = self.handle.read(size)
        self.digest.update(chunk)
        self.progress.advance(len(chunk))
        return chunk


class Progress:
    """Bytes done, shown on a terminal (rich's bar) and nowhere else."""

    def __init__(self, label: str, total: int, show: bool | None = None) -> None:
        self.show = sys.stderr.isatty() if show is None else show
        self._bar: Any = None
        if self.show and total > 0:
            from rich.progress import BarColumn, DownloadColumn, Progress as Bar, TimeRemainingColumn

            self._bar = Bar("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                            TimeRemainingColumn(), transient=True)
            self._bar.start()
            self._task = self._bar.add_task(label, total=total)

    def advance(self, amount: int) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, amount)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


@dataclass
class Manifest:
    kind: str  # hub / spoke
    db: str  # postgresql / sqlite
    schema: str
    version: str = field(default_factory=lianfu_version)
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    parts: dict[str, dict[str, Any]] = field(default_factory=dict)
    note: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return json.dumps({"format": FORMAT, "kind": self.kind, "db": self.db, "schema": self.schema,
                           "version": self.version, "created_at": self.created_at, "note": self.note,
                           "parts": self.parts}, ensure_ascii=False, indent=1).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> "Manifest":
        try:
            value = json.loads(raw)
            if value.get("format") != FORMAT:
                raise BackupError(f"the backup's format {value.get('format')!r} is not one this release reads")
            return cls(kind=str(value["kind"]), db=str(value["db"]), schema=str(value["schema"]),
                       version=str(value.get("version", "")), created_at=str(value.get("created_at", "")),
                       parts=dict(value["parts"]), note=dict(value.get("note") or {}))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BackupError(f"the backup's manifest cannot be read: {exc}") from None


class Writer:
    """A backup file being written: parts added one by one, the manifest last; nothing at `target` until `commit`."""

    def __init__(self, target: Path, manifest: Manifest, total: int, show: bool | None = None) -> None:
        self.target = target
        self.manifest = manifest
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        os.fchmod(handle, 0o600)
        self.temp = Path(name)
        self.file = os.fdopen(handle, "wb")
        self.tar = tarfile.open(fileobj=self.file, mode="w|", format=tarfile.PAX_FORMAT)
        self.progress = Progress(f"backup → {target.name}", total, show)

    def add_file(self, name: str, path: Path) -> None:
        info = tarfile.TarInfo(name)
        info.size = path.stat().st_size
        info.mode = 0o600
        info.mtime = int(path.stat().st_mtime)
        with open(path, "rb") as handle:
            reader = _Hashing(handle, self.progress)
            self.tar.addfile(info, reader)  # type: ignore[arg-type]
        self.manifest.parts[name] = {"sha256": reader.digest.hexdigest(), "size": info.size}

    def add_tree(self, prefix: str, root: Path, skip: set[Path] | None = None) -> None:
        """Every file under `root` (symlinks and sockets left out, and anything under a folder in `skip`), as
        `prefix/relative path`."""
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.is_symlink() and not (skip and any(s in path.parents for s in skip)):
                self.add_file(f"{prefix}/{path.relative_to(root).as_posix()}", path)

    def commit(self) -> None:
        raw = self.manifest.to_json()
        info = tarfile.TarInfo(MANIFEST)
        info.size, info.mode, info.mtime = len(raw), 0o600, int(datetime.now().timestamp())
        self.tar.addfile(info, io.BytesIO(raw))
        self.tar.close()
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        self.progress.close()
        os.replace(self.temp, self.target)
        with contextlib.suppress(OSError):
            directory = os.open(self.target.parent, os.O_RDONLY)
            os.fsync(directory)
            os.close(directory)

    def abort(self) -> None:
        self.progress.close()
        with contextlib.suppress(Exception):
            self.tar.close()
        with contextlib.suppress(Exception):
            self.file.close()
        self.temp.unlink(missing_ok=True)


@contextlib.contextmanager
def writing(target: Path, manifest: Manifest, total: int, show: bool | None = None) -> Iterator[Writer]:
    writer = Writer(target, manifest, total, show)
    try:
        yield writer
    except BaseException:
        writer.abort()
        raise
    writer.commit()


def unpack(source: Path, into: Path, show: bool | None = None) -> Manifest:
    """Every part of the backup at `source` written under `into` and checked against the manifest; BackupError (and
    `into` left for the caller to remove) at the first part that does not match, is missing or is not listed."""
    if not source.is_file():
        raise BackupError(f"no backup file at {source}")
    progress = Progress(f"check {source.name}", source.stat().st_size, show)
    found: dict[str, str] = {}
    manifest_raw: bytes | None = None
    try:
        with tarfile.open(source, mode="r|") as tar:
            for member in tar:
                if member.name == MANIFEST:
                    handle = tar.extractfile(member)
                    manifest_raw = handle.read() if handle is not None else b""
                    continue
                if not member.isfile():
                    raise BackupError(f"the backup holds {member.name!r}, which is not a file")
                target = (into / member.name).resolve()
                if into.resolve() not in target.parents:
                    raise BackupError(f"the backup names a path outside it: {member.name!r}")
                target.parent.mkdir(parents=True, exist_ok=True)
                handle = tar.extractfile(member)
                assert handle is not None
                digest = hashlib.sha256()
                with open(target, "wb") as out:
                    os.fchmod(out.fileno(), 0o600)
                    for chunk in iter(lambda: handle.read(CHUNK), b""):  # noqa: B023 - read within the loop
                        digest.update(chunk)
                        out.write(chunk)
                        progress.advance(len(chunk))
                found[member.name] = digest.hexdigest()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BackupError(f"{source} is not a whole backup file: {exc}") from None
    finally:
        progress.close()
    if manifest_raw is None:
        raise BackupError(f"{source} has no manifest: not a Lianfu backup, or cut short")
    manifest = Manifest.from_json(manifest_raw)
    for name, part in manifest.parts.items():
        if name not in found:
            raise BackupError(f"the backup lacks its part {name}")
        if found[name] != part.get("sha256"):
            raise BackupError(f"the backup's part {name} does not match its sha256: the file is damaged")
    extra = sorted(set(found) - set(manifest.parts))
    if extra:
        raise BackupError(f"the backup holds parts its manifest does not name: {', '.join(extra[:3])}")
    return manifest


def sqlite_copy(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database, by SQLite's online backup API (writers may go on meanwhile)."""
    if not source.is_file():
        raise BackupError(f"no SQLite database at {source}")
    target.unlink(missing_ok=True)
    with contextlib.closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)) as src, \
            contextlib.closing(sqlite3.connect(target)) as dst:
        src.backup(dst, pages=4096)
    os.chmod(target, 0o600)


def sqlite_revision(path: Path) -> str:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        try:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.DatabaseError:
            return ""
    return str(row[0]) if row else ""


def tree_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink()) if root.is_dir() else 0


def put_tree(source: Path, target: Path) -> int:
    """The files under `source` moved into `target` (kept where `target` has them already: named by their content,
    or the newer); how many."""
    count = 0
    if not source.is_dir():
        return 0
    for path in sorted(source.rglob("*")):
        if path.is_file():
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            if not destination.exists():
                shutil.move(str(path), destination)
                count += 1
    return count
