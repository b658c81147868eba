"""`lianfu hub blobs`: where the hub keeps attachment files, and moving a disk store into the database."""
from __future__ import annotations

import sys

import click


@click.group("blobs")
def blobs_group() -> None:
    """Attachment files: in the database (a PostgreSQL hub's default) or in the data dir."""


@blobs_group.command("migrate")
@click.option("--db", help="Database URL (default: SQLite in the data dir).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="The data directory whose blobs/ is moved in [var/hub].")
def migrate_blobs(db: str | None, data_dir: str | None) -> None:
    """Copy every verified file of DATA_DIR/blobs into the database (idempotent: files already there are skipped,
    files that do not match their sha256 are left out and named). The disk copies stay: remove them once every
    host uses LIANFU_BLOB_STORE=database."""
    from common.attachments.blobs import BlobMismatch, BlobStore
    from common.attachments.dbblobs import DatabaseBlobStore
    from common.audit import trail as audit
    from common.audit.trail import chain_key
    from common.bootstrap import prepare_database
    from common.db import Database
    from common.settings import ensure_secret_key, load_settings

    settings = load_settings("hub", db_url=db, data_dir=data_dir)
    root = settings.data_dir / "blobs"
    if not root.is_dir():
        click.echo(f"error: {root} is not a directory: there is no disk store to move", err=True)
        sys.exit(2)
    prepare_database(settings)
    settings = ensure_secret_key(settings)
    database = Database.connect(settings.database_url, audit_key=chain_key(settings.secret_key))
    disk = BlobStore(root)
    store = DatabaseBlobStore(database)
    moved = present = 0
    refused: list[str] = []
    try:
        for path in sorted(root.glob("??/*")):
            sha = path.name
            if not path.is_file() or not disk.valid(sha) or path.parent.name != sha[:2]:
                continue
            try:
                if store.put_stream(sha, disk.read(sha)):
                    moved += 1
                else:
                    present += 1
            except BlobMismatch:
                refused.append(sha)
        with database.transaction() as session:
            audit.record(session, settings.node_id, "blobs.migrated", actor="cli", entity_type="blob_store",
                         entity_id=str(root)[:64], detail={"moved": moved, "present": present, "refused": refused[:50]})
    finally:
        database.dispose()
    for sha in refused:
        click.echo(f"{sha}: its bytes do not match its name; left on disk, not moved", err=True)
    click.echo(f"{moved} files moved into the database, {present} already there, {len(refused)} refused")
    sys.exit(1 if refused else 0)
