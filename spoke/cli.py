"""`lianfu spoke …`: enroll a fresh data dir with the hub's one-time code, and serve the spoke."""
from __future__ import annotations

import json
import os
import sys

import click

from common.settings import load_settings


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


@click.group()
def spoke() -> None:
    """A spoke: a sub-center's or a workstation's own node."""


@spoke.command()
@click.option("--hub", "hub_url", required=True, help="The hub's address, e.g. https://lianfu.example.gov.cn")
@click.option("--code", required=True, help="The one-time enrollment code the office issued for this node.")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None, help="Data directory [var/spoke].")
@click.option("--url", "base_url", default=None, help="Where browsers will reach this spoke (default http://HOST:PORT).")
@click.option("--no-sync", "no_sync", is_flag=True,
              help="Enroll only: the first sync is the served spoke's first scheduled round (e.g. on a network that "
                   "drops long transfers, where the scheduler's retries carry it through).")
def enroll(hub_url: str, code: str, data_dir: str | None, base_url: str | None, no_sync: bool) -> None:
    """Turn a fresh data dir into an approved node's spoke: keys, client registration, its directory, and the first
    full sync (with a progress bar on a terminal)."""
    from spoke.enroll import EnrollError, enroll as run_enroll
    from sync.cli import progress_bar

    settings = load_settings("spoke", data_dir=data_dir, base_url=base_url)
    try:
        with progress_bar() as progress:
            summary = run_enroll(settings, hub_url, code, progress=progress, first_sync=not no_sync)
    except EnrollError as exc:
        _fail(str(exc))
    click.echo(json.dumps(summary, ensure_ascii=False, indent=2))


@spoke.command()
@click.option("--data-dir", type=click.Path(file_okay=False), default=None, help="Data directory [var/spoke].")
@click.option("--host", default=None, help="Address to listen on [127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port [8601].")
def serve(data_dir: str | None, host: str | None, port: int | None) -> None:
    """Run the spoke (migrates first), with its scheduled sync."""
    import uvicorn

    from common.bootstrap import prepare_database
    from spoke.app import NotEnrolled, spoke_settings

    try:
        settings, _config = spoke_settings(load_settings("spoke", data_dir=data_dir, host=host, port=port))
    except NotEnrolled as exc:
        _fail(str(exc))
    from common.ops.logs import spoke_log_file
    from common.ops.serving import prepare_serving

    try:
        # A spoke logs to its data dir (rotated) as well as to stdout: the directory is the whole of the node.
        log_config = prepare_serving(settings.data_dir, spoke_log_file(settings.data_dir))
    except (ValueError, OSError) as exc:
        _fail(str(exc))
    prepare_database(settings)
    os.environ.update({"LIANFU_DATA_DIR": str(settings.data_dir), "LIANFU_HOST": settings.host,
                       "LIANFU_PORT": str(settings.port), "LIANFU_SPOKE_SCHEDULE": "1"})
    uvicorn.run("spoke.app:create_app", factory=True, host=settings.host, port=settings.port, workers=1,
                log_level="info", log_config=log_config, timeout_graceful_shutdown=5, proxy_headers=False)


@spoke.command("backup")
@click.option("--to", "target", type=click.Path(dir_okay=False), required=True, help="The backup file to write.")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None, help="Data directory [var/spoke].")
def backup_command(target: str, data_dir: str | None) -> None:
    """The spoke's data dir in one file, while it runs: its SQLite database (by SQLite's online backup), its
    enrollment config and keys, its files. `tar -xf FILE` gives back `data/`, a data dir to serve from."""
    import tempfile
    import time
    from pathlib import Path

    from common import backup
    from common.backup import Manifest, in_one_line

    settings = load_settings("spoke", data_dir=data_dir)
    root = settings.data_dir
    database = root / "lianfu.db"
    path = Path(target)
    if not database.is_file():
        _fail(f"no spoke database in {root} (is it the spoke's data dir?)")
    if path.is_dir():
        _fail(f"{target} is a directory; give a file name")
    started = time.monotonic()
    left_out = {database, Path(f"{database}-wal"), Path(f"{database}-shm"), Path(f"{database}-journal"),
                root / "sync.lock", path.resolve()}
    with in_one_line("write", target):
        with tempfile.TemporaryDirectory(prefix=".lianfu-backup-", dir=path.resolve().parent) as work:
            copy = Path(work) / "lianfu.db"
            backup.sqlite_copy(database, copy)
            manifest = Manifest(kind="spoke", db="sqlite", schema=backup.sqlite_revision(copy),
                                note={"node": settings.node_id})
            others = [p for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()
                      and p.resolve() not in left_out
                      and not any(part.startswith(".lianfu-backup-") for part in p.relative_to(root).parts)]
            total = copy.stat().st_size + sum(p.stat().st_size for p in others)
            with backup.writing(path, manifest, total) as writer:
                writer.add_file("data/lianfu.db", copy)
                for other in others:
                    writer.add_file(f"data/{other.relative_to(root).as_posix()}", other)
    click.echo(f"backup written to {target}: {len(manifest.parts)} parts, schema {manifest.schema}, "
               f"{path.stat().st_size / 1024 / 1024:.1f} MB, {time.monotonic() - started:.1f} s")
