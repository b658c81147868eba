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


@click.group(cls=LianfuGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
