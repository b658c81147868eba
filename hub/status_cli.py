"""`lianfu hub status`: version, schema revision, database, hub hosts seen, jobs; `--json` for programs."""
from __future__ import annotations

import json
import sys

import click


def _when(stamp: str | None) -> str:
    from sync.cli import beijing_time

    return beijing_time(stamp) if stamp else "-"


def _database_line(database: dict[str, object]) -> str:
    if database["kind"] == "sqlite":
        return f"sqlite {database['path']}"
    where = f"{database['host']}:{database['port']}" if database.get("port") else str(database["host"])
    user = f" as {database['user']}" if database.get("user") else ""
    return f"{database['kind']} {where}/{database.get('name') or ''}{user}"


@click.command("status")
@click.option("--db", help="Database URL (default: SQLite in the data dir).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None, help="Data directory [var/hub].")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status_command(db: str | None, data_dir: str | None, as_json: bool) -> None:
    """Version, schema revision against this release's, database, hub hosts seen recently, scheduled jobs.

    Exit 0 when the schema is this release's, 1 when it is not."""
    from common.db import Database
    from common.settings import load_settings
    from hub.status import gather

    settings = load_settings("hub", db_url=db, data_dir=data_dir)
    database = Database.connect(settings.database_url)
    try:
        status = gather(database, settings.database_url)
    finally:
        database.dispose()
    if as_json:
        click.echo(json.dumps(status, ensure_ascii=False, indent=2))
        sys.exit(0 if status["schema"]["up_to_date"] else 1)
    schema = status["schema"]
    click.echo(f"{'version':<10} lianfu {status['version']}")
    click.echo(f"{'schema':<10} {schema['current'] or '-'} (this release: {schema['expected']}; {schema['verdict']})")
    click.echo(f"{'database':<10} {_database_line(status['database'])}")
    click.echo("hosts")
    if not status["hosts"]:
        click.echo("  (none seen: no hub has served on this database in the last 7 days)")
    for host in status["hosts"]:
        state = "live" if host["live"] else "gone"
        click.echo(f"  {host['host']}:{host['port']:<6} {state:<5} pid {host['pid']:<8} workers {host['workers']:<3} "
                   f"{host['version']:<10} started {_when(host['started_at'])}  last seen {_when(host['last_seen_at'])}")
    click.echo("jobs")
    click.echo(f"  {'name':<17} {'last run':<27} {'next run':<27} {'outcome':<8} error")
    for job in status["jobs"]:
        error = (job["last_error"] or "-").splitlines()[0][:60]
        click.echo(f"  {job['name']:<17} {_when(job['last_run_at']):<27} {_when(job['next_run_at']):<27} "
                   f"{job['last_outcome'] or '-':<8} {error}")
    sys.exit(0 if schema["up_to_date"] else 1)
