"""The root of the `lianfu` command; hub, spoke and sync add their groups through entry points."""
from __future__ import annotations

import sys
from importlib.metadata import entry_points

import click


class LianfuGroup(click.Group):
    """Loads subcommand groups declared under the `lianfu.commands` entry-point group, lazily."""

    def _plugins(self) -> dict[str, object]:
        return {ep.name: ep for ep in entry_points(group="lianfu.commands")}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._plugins()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        ep = self._plugins().get(cmd_name)
        return ep.load() if ep is not None else None  # type: ignore[attr-defined]

    def invoke(self, ctx: click.Context) -> object:
        """Any subcommand whose database cannot be reached, or is not a database at all, ends in one line and a
        non-zero exit rather than a traceback (the operator needs the reason, not the stack)."""
        try:
            return super().invoke(ctx)
        except Exception as exc:  # noqa: BLE001 - only database failures are turned into a line; the rest re-raised
            message = database_failure(exc)
            if message is not None:
                click.echo(f"error: {message}", err=True)
                sys.exit(DATABASE_EXIT)
            message = file_failure(exc)
            if message is None:
                raise
            click.echo(f"error: {message}", err=True)
            sys.exit(FILE_EXIT)


DATABASE_EXIT = 3
FILE_EXIT = 4


def file_failure(exc: BaseException) -> str | None:
    """The one line for a file or directory the command may not use (a data dir the account cannot create, a
    backup it cannot write), or None when `exc` is something else."""
    if isinstance(exc, (PermissionError, FileNotFoundError, NotADirectoryError, IsADirectoryError)) and exc.filename:
        return f"cannot use {exc.filename}: {exc.strerror or type(exc).__name__}"
    return None


def _first_line(text: str, limit: int = 200) -> str:
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line[:limit]


def database_failure(exc: BaseException) -> str | None:
    """The one line for a database that cannot be used, or None when `exc` is something else."""
    from sqlalchemy import exc as sa_exc

    while exc is not None:
        if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError)):
            reason = _first_line(str(exc.orig)) if exc.orig is not None else _first_line(str(exc))
            return f"database unreachable: {reason or type(exc).__name__}"
        if isinstance(exc, sa_exc.NoSuchModuleError | sa_exc.ArgumentError):
            return f"database URL not understood: {_first_line(str(exc))}"
        if isinstance(exc, sa_exc.DBAPIError):
            reason = _first_line(str(exc.orig)) if exc.orig is not None else _first_line(str(exc))
            return f"database error: {reason or type(exc).__name__}"
        if isinstance(exc, ModuleNotFoundError) and _from_dialect(exc):
            return f"database URL not understood: its driver is not installed ({exc.name})"
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return None


def _from_dialect(exc: BaseException) -> bool:
    """Whether SQLAlchemy raised it while loading a URL's driver (a URL naming one this install lacks)."""
    import traceback

    return any("sqlalchemy/dialects" in frame.filename for frame in traceback.extract_tb(exc.__traceback__))


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from common.ops.version import package_version, schema_head

    click.echo(f"lianfu {package_version()} (schema {schema_head()})")
    ctx.exit()


@click.group(cls=LianfuGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Print the version and the database schema revision this release expects, then exit.")
def cli() -> None:
    """Lianfu 警企联服: the hub, the spokes and their sync."""


@cli.command("demo")
@click.option("--base-port", type=int, envvar="LIANFU_DEMO_BASE_PORT", default=8600, show_default=True,
              help="The hub listens here; spokes on the next ports.")
@click.option("--root", type=click.Path(file_okay=False), default="var/demo", show_default=True,
              help="Where the nodes keep their data.")
@click.option("--enterprises", type=int, default=300, show_default=True, help="Demo enterprises to seed on first start.")
def demo(base_port: int, root: str, enterprises: int) -> None:
    """Run the demo federation on loopback until Ctrl-C."""
    from common.demo import run_demo

    sys.exit(run_demo(base_port, root, enterprises))


def main() -> None:
    from common.settings import SettingsError

    try:
        cli(prog_name="lianfu")
    except SettingsError as exc:
        # Settings a command cannot run with: one line, not a traceback.
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
