"""`lianfu hub jobs`: the hub's scheduled jobs as the operator sees them, and one run now, as if at a given time."""
from __future__ import annotations

import json
import sys
from datetime import datetime, timezone

import click


def _database(db: str | None):  # noqa: ANN202
    from common.audit.trail import chain_key
    from common.bootstrap import prepare_database
    from common.db import Database
    from common.settings import ensure_secret_key, load_settings

    settings = load_settings("hub", db_url=db)
    prepare_database(settings)  # migrated, as every hub command finds it
    settings = ensure_secret_key(settings)
    return settings, Database.connect(settings.database_url, audit_key=chain_key(settings.secret_key))


def _when(moment: datetime | None) -> str:
    from sync.cli import beijing_time

    if moment is None:
        return "-"
    aware = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return beijing_time(aware.isoformat())


@click.group("jobs", invoke_without_command=True)
@click.option("--db", help="Database URL (default: SQLite in the data dir).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def jobs_group(ctx: click.Context, db: str | None, as_json: bool) -> None:
    """The hub's scheduled jobs: last run, next run, last error (Beijing time)."""
    ctx.ensure_object(dict)["db"] = db
    if ctx.invoked_subcommand is not None:
        return
    from hub.jobs import job_rows

    settings, database = _database(db)
    try:
        rows = job_rows(database)
    finally:
        database.dispose()
    if as_json:
        click.echo(json.dumps([{
            "name": job.name, "interval_seconds": job.interval,
            "last_started_at": row.last_started_at.isoformat() if row and row.last_started_at else None,
            "last_finished_at": row.last_finished_at.isoformat() if row and row.last_finished_at else None,
            "next_run_at": row.next_run_at.isoformat() if row and row.next_run_at else None,
            "runs": row.runs if row else 0, "last_error": row.last_error if row else None,
            "last_result": row.last_result if row else None} for job, row in rows], ensure_ascii=False, indent=2))
        return
    header = f"{'job':<12} {'every':>7}  {'last run':<27} {'next run':<27} {'runs':>7}  last error"
    click.echo(header)
    for job, row in rows:
        every = f"{job.interval:g}s"
        last = _when(row.last_started_at) if row else "-"
        upcoming = _when(row.next_run_at) if row else "-"
        error = (row.last_error or "-").splitlines()[0][:80] if row else "-"
        click.echo(f"{job.name:<12} {every:>7}  {last:<27} {upcoming:<27} {row.runs if row else 0:>7}  {error}")


@jobs_group.command("run")
@click.argument("name")
@click.option("--at", "at", default=None, help="Run as if at this time (ISO-8601; UTC unless it has an offset).")
@click.option("--db", help="Database URL (default: SQLite in the data dir).")
@click.pass_context
def run_command(ctx: click.Context, name: str, at: str | None, db: str | None) -> None:
    """Run the job NAME once now (as if at --at) and print what it did; exit 1 if it failed."""
    from hub.jobs import JOBS, run_job

    job = JOBS.get(name)
    if job is None:
        click.echo(f"error: no such job: {name} (jobs: {', '.join(JOBS)})", err=True)
        sys.exit(2)
    moment = None
    if at:
        try:
            moment = datetime.fromisoformat(at)
        except ValueError:
            click.echo(f"error: --at is not an ISO-8601 time: {at}", err=True)
            sys.exit(2)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        moment = moment.astimezone(timezone.utc)
    settings, database = _database(db or (ctx.obj or {}).get("db"))
    try:
        ran = run_job(database, settings, job, moment)
    finally:
        database.dispose()
    if ran.error:
        click.echo(f"error: {name}: {ran.error}", err=True)
        sys.exit(1)
    click.echo(json.dumps(ran.result, ensure_ascii=False, sort_keys=True, default=str))
