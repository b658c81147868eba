"""`lianfu hub backup` / `restore`: the hub's database (pg_dump's custom format, or SQLite's online backup), its
secret key file and its files on disk, in one file; restored, migrated, and given a new lineage so its spokes heal it.

A restore brings the hub back to the backup's moment. What the spokes hold of their scopes comes back from them
(sync/client/heal.py); what was written at the hub alone after the backup is lost.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from glob import glob
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from common import backup
from common.backup import BackupError, Manifest
from common.db import Database
from common.settings import Settings, child_environment

DUMP = "database.dump"
SQLITE = "database.sqlite"
DATA = "data"


@dataclass
class Restored:
    manifest: Manifest
    files: int
    lineage: str
    previous: str | None


# --- PostgreSQL's own tools, of the server's major version ---------------------------------------------------------

def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The database URL as libpq takes it, and the password in the environment (never on a command line)."""
    parsed = make_url(url)
    env = child_environment(**({"PGPASSWORD": str(parsed.password)} if parsed.password else {}))
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def server_major(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SHOW server_version_num")).scalar()) // 10000
    except Exception as exc:  # noqa: BLE001 - one line for the operator, whatever the driver says
        raise BackupError(f"cannot reach the hub's database: {str(exc).splitlines()[0][:200]}") from None
    finally:
        engine.dispose()


def pg_tool(name: str, major: int) -> str:
    """pg_dump or pg_restore of the server's major version: LIANFU_PG_BIN, then PATH, then Debian's and RPM's
    directories."""
    from common.settings import load_settings

    candidates = []
    pg_bin = load_settings("hub").pg_bin
    if pg_bin:
        candidates.append(str(Path(pg_bin) / name))
    if shutil.which(name):
        candidates.append(str(shutil.which(name)))
    candidates += sorted(glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    candidates += sorted(glob(f"/usr/pgsql-*/bin/{name}"), reverse=True)
    seen = []
    for candidate in candidates:
        try:
            out = subprocess.run([candidate, "--version"], capture_output=True, text=True, timeout=30).stdout
        except OSError:
            continue
        found = re.search(r"(\d+)(?:\.\d+)?", out)
        if found is None:
            continue
        seen.append(f"{candidate} ({found.group(1)})")
        if int(found.group(1)) == major:
            return candidate
    raise BackupError(f"no {name} of PostgreSQL {major} (the server's version) found"
                      + (f"; found {', '.join(seen)}" if seen else "")
                      + f": install postgresql-client-{major} or set LIANFU_PG_BIN")


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise BackupError(f"{what} failed: {(lines[-1] if lines else f'exit {done.returncode}')[:300]}")


class PgDump:
    """pg_dump of the database running in the background (the files are copied meanwhile); `wait` for its end."""

    def __init__(self, url: str, target: Path) -> None:
        libpq, env = _libpq(url)
        tool = pg_tool("pg_dump", server_major(url))
        self.errors = tempfile.TemporaryFile()
        self.process = subprocess.Popen([tool, "--format=custom", "--no-owner", "--file", str(target), "--dbname",
                                         libpq], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=self.errors)

    def wait(self) -> None:
        code = self.process.wait()
        self.errors.seek(0)
        lines = [line for line in self.errors.read().decode(errors="replace").splitlines() if line.strip()]
        self.errors.close()
        if code != 0:
            raise BackupError(f"pg_dump failed: {(lines[-1] if lines else f'exit {code}')[:300]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.errors.close()


def pg_dump(url: str, target: Path) -> None:
    dump = PgDump(url, target)
    dump.wait()


def pg_restore(url: str, dump: Path) -> None:
    libpq, env = _libpq(url)
    tool = pg_tool("pg_restore", server_major(url))
    _run([tool, "--clean", "--if-exists", "--no-owner", "--single-transaction", "--exit-on-error", "--dbname", libpq,
          str(dump)], env, "pg_restore")


# --- what the hub's database is ------------------------------------------------------------------------------------

def _revision(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SELECT version_num FROM alembic_version")).scalar() or "")
    except Exception as exc:  # noqa: BLE001
        raise BackupError(f"the hub's database has no schema revision (not migrated?): "
                          f"{str(exc).splitlines()[0][:200]}") from None
    finally:
        engine.dispose()


def _is_empty(settings: Settings) -> bool:
    if _kind(settings) == "sqlite":
        path = _sqlite_path(settings)
        return not path.is_file() or path.stat().st_size == 0
    engine = create_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            return not conn.execute(text("SELECT count(*) FROM information_schema.tables "
                                         "WHERE table_schema = current_schema()")).scalar()
    except Exception as exc:  # noqa: BLE001
        raise BackupError(f"cannot reach the hub's database: {str(exc).splitlines()[0][:200]}") from None
    finally:
        engine.dispose()


def _refuse_while_served(settings: Settings) -> None:
    """A hub still serving this database would go on writing into the restored one, with what it holds in memory:
    the restore waits until every host has stopped (`hub_host`: a clean stop says so; one killed falls silent within
    a minute and a half)."""
    from hub.hosts import LIVE_WITHIN, live_hosts

    db = Database.connect(settings.database_url)
    try:
        serving = live_hosts(db)
    except Exception:  # noqa: BLE001 - a database with no hosts' table or not readable as a hub: nothing serves it
        serving = []
    finally:
        db.dispose()
    if serving:
        names = ", ".join(f"{h['host']}:{h['port']}" for h in serving)
        raise BackupError(f"a hub is serving this database ({names}): stop it first (systemctl stop lianfu-hub on "
                          f"each host); one that was killed counts as stopped {int(LIVE_WITHIN.total_seconds())} s "
                          "after it was last heard of")


def _kind(settings: Settings) -> str:
    return "sqlite" if settings.database_url.startswith("sqlite") else "postgresql"


def _sqlite_path(settings: Settings) -> Path:
    database = make_url(settings.database_url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(database)


def _old_lineage(settings: Settings) -> dict[str, Any] | None:
    """The lineage of the database a restore replaces (its spokes may heal the restored hub too), if it has one."""
    from common.db import Database
    from sync.hub import lineage

    try:
        database = Database.connect(settings.database_url)
    except Exception:  # noqa: BLE001
        return None
    try:
        with database.reads() as session:
            return lineage._read(session)  # noqa: SLF001 - read only, never made here
    except Exception:  # noqa: BLE001 - no such table: nothing to keep
        return None
    finally:
        database.dispose()


# --- backup ----------------------------------------------------------------------------------------------------------

def backup_hub(settings: Settings, target: Path, show: bool | None = None) -> Manifest:
    """The hub in one file at `target`: its database, its secret key file (when LIANFU_SECRET_KEY is not set) and the
    files in its data dir's blob store."""
    kind = _kind(settings)
    blobs = settings.data_dir / "blobs"
    key_file = settings.data_dir / "secret_key"
    with tempfile.TemporaryDirectory(prefix=".lianfu-backup-", dir=target.parent if target.parent.exists() else None) \
            as work:
        running: PgDump | None = None
        if kind == "sqlite":
            dump, name = Path(work) / SQLITE, SQLITE
            backup.sqlite_copy(_sqlite_path(settings), dump)
            schema = backup.sqlite_revision(dump)
            size = dump.stat().st_size
        else:
            schema = _revision(settings.database_url)
            dump, name = Path(work) / DUMP, DUMP
            # The database's dump runs while the files are copied (its snapshot is taken as it starts; a file made
            # meanwhile is one more, and one whose bytes have not come yet is sent again by its spoke's heal).
            running = PgDump(settings.database_url, dump)
            size = 0
        if not schema:
            raise BackupError("the hub's database has no schema revision (not migrated?)")
        total = size + backup.tree_size(blobs) - backup.tree_size(blobs / "partial")
        manifest = Manifest(kind="hub", db=kind, schema=schema,
                            note={"secret_key": "file" if key_file.is_file() and not settings.secret_key else "env"})
        try:
            with backup.writing(target, manifest, total, show) as writer:
                if key_file.is_file() and not settings.secret_key:
                    writer.add_file(f"{DATA}/secret_key", key_file)
                if blobs.is_dir():
                    # Transfers under way are not files yet: their senders send them again.
                    writer.add_tree(f"{DATA}/blobs", blobs, skip={blobs / "partial"})
                if running is not None:
                    running.wait()
                    running = None
                writer.add_file(name, dump)
        finally:
            if running is not None:
                running.stop()
    return manifest


# --- restore ---------------------------------------------------------------------------------------------------------

def check_schema(manifest: Manifest) -> None:
    """A backup made by this release or an earlier one (a newer schema cannot be migrated down to this code)."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from common.migrate import alembic_config

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    try:
        known = script.get_revision(manifest.schema)
    except CommandError:
        known = None
    if known is None:
        raise BackupError(f"the backup's schema {manifest.schema} is newer than this release's "
                          f"({script.get_current_head()}): restore it with the release that made it "
                          f"(Lianfu {manifest.version})")


def restore_hub(settings: Settings, source: Path, replace: Callable[[], bool], show: bool | None = None) -> Restored:
    """Check the backup whole, then replace the hub's database with it, put its files back, migrate to head and give
    the hub a new lineage. Nothing is changed when the backup is refused. `replace()` is asked, once the backup has
    passed its checks, whether a database that is not empty may be replaced."""
    kind = _kind(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".lianfu-restore-", dir=settings.data_dir) as work:
        staged = Path(work)
        manifest = backup.unpack(source, staged, show)
        if manifest.kind != "hub":
            raise BackupError(f"this is a backup of a {manifest.kind}, not of a hub")
        check_schema(manifest)
        if manifest.note.get("secret_key") == "env" and not settings.secret_key:
            raise BackupError("the backed-up hub took its secret key from LIANFU_SECRET_KEY, which the backup does "
                              "not hold: set the same LIANFU_SECRET_KEY for the restore")
        if manifest.db != kind:
            raise BackupError(f"the backup is of a {manifest.db} hub; this hub's database is {kind}")
        if not settings.secret_key and not (staged / DATA / "secret_key").is_file():
            from common.settings import ensure_secret_key

            ensure_secret_key(settings)  # refuses a production PostgreSQL hub without LIANFU_SECRET_KEY, before anything
        if not _is_empty(settings):
            _refuse_while_served(settings)
            if not replace():
                raise BackupError("the hub's database is not empty and was not replaced (--yes replaces it)")
        old = _old_lineage(settings)
        if kind == "sqlite":
            target = _sqlite_path(settings)
            target.parent.mkdir(parents=True, exist_ok=True)
            placed = target.with_name(f".{target.name}.restoring")
            shutil.copyfile(staged / SQLITE, placed)
            os.chmod(placed, 0o600)
            for suffix in ("-wal", "-shm", "-journal"):
                Path(f"{target}{suffix}").unlink(missing_ok=True)
            os.replace(placed, target)
        else:
            pg_restore(settings.database_url, staged / DUMP)
        key = staged / DATA / "secret_key"
        if key.is_file() and not settings.secret_key:
            placed = settings.data_dir / ".secret_key.restoring"
            shutil.copyfile(key, placed)
            os.chmod(placed, 0o600)
            os.replace(placed, settings.data_dir / "secret_key")
        files = backup.put_tree(staged / DATA / "blobs", settings.data_dir / "blobs")
    return _after_restore(settings, manifest, files, old)


def _after_restore(settings: Settings, manifest: Manifest, files: int, old: dict[str, Any] | None) -> Restored:
    """Migrate to head, then a new lineage (the old database's kept among the previous: its spokes heal too), and
    the restore in the hub's trail."""
    from common.audit import trail as audit
    from common.audit.trail import chain_key
    from common.bootstrap import prepare_database
    from common.db import Database
    from common.settings import ensure_secret_key
    from sync.hub import lineage

    prepare_database(settings)
    keyed = ensure_secret_key(settings) if not settings.secret_key else settings
    database = Database.connect(settings.database_url, audit_key=chain_key(keyed.secret_key))
    try:
        with database.transaction() as session:
            token, previous = lineage.renew(session, also_previous=[*(old or {}).get("previous", []),
                                                                    *([old["token"]] if old and old.get("token") else [])])
            audit.record(session, settings.node_id, "hub.restored", actor="lianfu hub restore", entity_type="backup",
                         entity_id=manifest.created_at[:64],
                         detail={"created_at": manifest.created_at, "schema": manifest.schema, "db": manifest.db,
                                 "version": manifest.version, "files": files, "lineage": token,
                                 "previous_lineage": previous})
    finally:
        database.dispose()
    return Restored(manifest, files, token, previous)
