"""`lianfu sync`: a round now (with a progress bar on a terminal), and the state of this spoke's sync."""
from __future__ import annotations

import contextlib
import json
import sys
from typing import Any, Callable, Iterator

import click

from common.settings import load_settings


def _spoke(data_dir: str | None) -> tuple[Any, Any, Any]:
    from sync.capture import spoke_database
    from sync.hub_link import HubLink, SpokeConfig

    settings = load_settings("spoke", data_dir=data_dir)
    config = SpokeConfig.load(settings.data_dir)
    if config is None:
        click.echo(f"error: {settings.data_dir} holds no enrolled spoke (run `lianfu spoke enroll` first)", err=True)
        sys.exit(2)
    settings = settings.with_overrides(node_id=config.node_id)
    return settings, spoke_database(settings.database_url, config.node_id), HubLink(settings.data_dir, config)


@click.group(invoke_without_command=True)
@click.option("--data-dir", type=click.Path(file_okay=False), default=None, help="The spoke's data directory [var/spoke].")
@click.option("--once", is_flag=True, help="One round, then exit (the default: `lianfu sync` always runs one round).")
@click.pass_context
def sync(ctx: click.Context, data_dir: str | None, once: bool) -> None:
    """Sync this spoke with its hub now: push, pull, check. Exit 0 only if the round completed."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = data_dir
        return
    from common.bootstrap import prepare_database
    from sync.client import SpokeSync

    settings, db, link = _spoke(data_dir)
    prepare_database(settings)
    try:
        with progress_bar() as progress:
            engine = SpokeSync.for_settings(db, settings, link, progress)
            result = engine.round()
            if engine.checkpointing is not None:
                engine.checkpointing.join()  # this process ends next: the round's writes folded back first
    finally:
        link.close()
        db.dispose()
    click.echo(json.dumps(round_summary(result), ensure_ascii=False))
    sys.exit(0 if result.ok else 1)


@contextlib.contextmanager
def progress_bar() -> Iterator[Callable[[str, int, int | None], None]]:
    """A round's progress as rows pushed and pulled, on standard error when it is a terminal (nothing otherwise)."""
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed} rows"),
                  TimeElapsedColumn(), console=console, disable=not console.is_terminal, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def progress(phase: str, done: int, total: int | None) -> None:
            label = {"push": "推送 push", "pull": "拉取 pull", "heal": "补传 heal"}.get(phase, phase)
            if phase not in tasks:
                tasks[phase] = bar.add_task(label, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        yield progress


def round_summary(result: Any) -> dict[str, Any]:
    """What `lianfu sync` prints of a round (and `lianfu spoke enroll` of the first one)."""
    return {"ok": result.ok, "pushed": result.pushed, "pulled": result.pulled, "dropped": result.dropped,
            "conflicts": result.conflicts, "rejected": len(result.rejected), "repaired": result.repaired,
            "open_conflicts": result.open_conflicts, "queued": result.queued,
            **({"healed": result.healed, "heal_taken": result.heal_taken} if result.healed else {}),
            "lag_seconds": round(result.lag_seconds, 1), "seconds": round(result.seconds, 3), "error": result.error}


@sync.command("status")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None, help="The spoke's data directory [var/spoke].")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def status_command(group_data_dir: str | None, data_dir: str | None, as_json: bool) -> None:
    """Last success, last error, lag, queued changes and open conflicts of this spoke."""
    from sync.client import status

    _settings, db, _link = _spoke(data_dir or group_data_dir)
    try:
        state = status(db)
    finally:
        db.dispose()
    if as_json:
        click.echo(json.dumps(state, ensure_ascii=False))
        return
    for key in ("last_success", "last_error", "lag_seconds", "queued", "open_conflicts"):
        value = state.get(key)
        if key == "last_success" and value:
            value = beijing_time(str(value))
        click.echo(f"{key:<16} {value if value is not None else '-'}")


def beijing_time(stamp: str) -> str:
    """A stored UTC time as the pages show it: Beijing time, with its offset so that no one reads it as UTC."""
    from datetime import datetime, timezone
    from zoneinfo import ZoneInfo

    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M:%S +08:00")
