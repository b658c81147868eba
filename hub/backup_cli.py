"""`lianfu hub backup | restore`: everything the hub needs in one file, and the hub put back from one."""
from __future__ import annotations

import sys
import time

import click

from hub.cli_support import _fail, _settings


@click.command("backup")
@click.option("--to", "target", type=click.Path(dir_okay=False), required=True, help="The backup file to write.")
@click.option("--db", help="Database URL (default: SQLite in the data dir).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None, help="Data directory [var/hub].")
def backup_command(target: str, db: str | None, data_dir: str | None) -> None:
    """Everything the hub needs in one file: its database (pg_dump of the server's version, or SQLite's online
    backup), its secret key file and its files on disk. Written whole or not at all, readable by its owner only."""
    from pathlib import Path

    from common.backup import in_one_line
    from hub.backup import backup_hub

    settings = _settings(db, data_dir=data_dir)
    path = Path(target)
    if path.is_dir():
        _fail(f"{target} is a directory; give a file name")
    started = time.monotonic()
    with in_one_line("write", target):
        manifest = backup_hub(settings, path)
    size = path.stat().st_size
    click.echo(f"backup written to {target}: {manifest.db} database at schema {manifest.schema}, "
               f"{len(manifest.parts)} parts, {size / 1024 / 1024:.1f} MB, {time.monotonic() - started:.1f} s")


@click.command("restore")
@click.option("--from", "source", type=click.Path(dir_okay=False), required=True, help="The backup file to restore.")
@click.option("--db", help="Database URL (default: SQLite in the data dir).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None, help="Data directory [var/hub].")
@click.option("--yes", is_flag=True, help="Replace a database that is not empty without asking (on a terminal the "
              "command asks; run from a script it replaces, as the command says).")
def restore_command(source: str, db: str | None, data_dir: str | None, yes: bool) -> None:
    """Put the hub back as the backup holds it (stop every hub process first): every part checked against its
    sha256 before anything is changed, the database replaced, the files put back, migrated to the newest schema. The
    spokes then send again what the hub lost of their scopes at their next sync; what was written at the hub alone
    after the backup is lost."""
    from pathlib import Path

    from common.backup import in_one_line
    from common.settings import SettingsError
    from hub.backup import restore_hub

    settings = _settings(db, data_dir=data_dir)
    started = time.monotonic()
    with in_one_line("restore from", source, SettingsError):
        restored = restore_hub(settings, Path(source), lambda: yes or not sys.stdin.isatty() or click.confirm(
            "The hub's database is not empty: replace it with the backup?", default=False))
    click.echo(f"hub restored from {source} (made {restored.manifest.created_at}, schema {restored.manifest.schema}, "
               f"{restored.files} files) in {time.monotonic() - started:.1f} s; new lineage {restored.lineage}: "
               f"spokes send again what the hub lost at their next sync")
