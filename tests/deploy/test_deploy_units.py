"""The systemd units: hardened to an exposure of 2.0 or lower by systemd's own rating, valid to `systemd-analyze
verify`, and starting a command line our CLI accepts. (That the hardened hub really runs, memory-deny-write-execute
included, is tested in test_deploy_nginx.py with the unit's own ExecStart.)"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import click
import pytest

from deploy_support import DEPLOY, LIANFU, SYSTEMD_ANALYZE, UNIT_LIANFU, exec_start, unit_settings

needs_systemd = pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed")
HUB = DEPLOY / "lianfu-hub.service"
SPOKE = DEPLOY / "lianfu-spoke@.service"
EXPOSURE = re.compile(r"Overall exposure level for (\S+): (\d+\.\d+) (\S+)")
# The bar the issue sets, in systemd's own tenths (`--threshold` counts 0–100 for the 0.0–10.0 shown).
MOST_EXPOSURE = 2.0


def _instance(tmp_path: Path, unit: Path, instance: str = "sc-demo") -> Path:
    """A copy of a unit under a name systemd accepts as itself: a template gets an instance name."""
    name = unit.name.replace("@.", f"@{instance}.")
    copy = tmp_path / name
    shutil.copyfile(unit, copy)
    return copy


@needs_systemd
@pytest.mark.parametrize("unit", [HUB, SPOKE], ids=["hub", "spoke"])
def test_the_unit_is_rated_2_or_lower(unit: Path, tmp_path: Path) -> None:
    assert SYSTEMD_ANALYZE is not None
    rated = subprocess.run([SYSTEMD_ANALYZE, "security", "--offline=true", f"--threshold={int(MOST_EXPOSURE * 10)}",
                            str(_instance(tmp_path, unit))], capture_output=True, text=True, timeout=120)
    found = EXPOSURE.search(rated.stdout)
    assert found is not None, rated.stdout + rated.stderr
    assert float(found.group(2)) <= MOST_EXPOSURE, rated.stdout
    assert rated.returncode == 0, rated.stdout + rated.stderr


@needs_systemd
@pytest.mark.parametrize("unit", [HUB, SPOKE], ids=["hub", "spoke"])
def test_the_unit_passes_systemd_analyze_verify(unit: Path, tmp_path: Path) -> None:
    """verify also checks that ExecStart names an executable: the install path is pointed at this venv's `lianfu`."""
    assert SYSTEMD_ANALYZE is not None
    installed = shutil.which("lianfu") or str(Path(LIANFU[0]).parent / "lianfu")
    if not Path(installed).exists():
        pytest.skip("the lianfu console script is not installed in this environment")
    copy = _instance(tmp_path, unit)
    copy.write_text(copy.read_text(encoding="utf-8").replace(UNIT_LIANFU, installed), encoding="utf-8")
    verified = subprocess.run([SYSTEMD_ANALYZE, "verify", str(copy)], capture_output=True, text=True, timeout=120)
    assert verified.returncode == 0, verified.stderr
    # Unknown or misspelt settings are only warned about: none may be.
    assert copy.name not in verified.stderr, verified.stderr


@pytest.mark.parametrize("unit", [HUB, SPOKE], ids=["hub", "spoke"])
def test_exec_start_is_a_command_line_the_cli_accepts(unit: Path) -> None:
    from common.cli import cli

    argv = exec_start(unit, "sc-demo")
    assert argv[0] == UNIT_LIANFU
    group: click.Command = cli
    args = argv[1:]
    while isinstance(group, click.Group):
        group = group.get_command(click.Context(group), args[0])  # type: ignore[assignment]
        assert group is not None, argv
        args = args[1:]
    # Parsed and converted as a run would, without running it: a misspelt flag or a bad value fails here.
    context = group.make_context(group.name, list(args))
    data_dir = "/var/lib/lianfu/hub" if unit is HUB else "/var/lib/lianfu/spoke-sc-demo"
    assert context.params["data_dir"] == data_dir
    if unit is HUB:
        assert context.params["workers"] >= 2


@pytest.mark.parametrize("unit", [HUB, SPOKE], ids=["hub", "spoke"])
def test_the_unit_writes_only_its_state_directory(unit: Path) -> None:
    settings = unit_settings(unit)
    state = settings["StateDirectory"][0].replace("%i", "sc-demo")
    data_dir = exec_start(unit, "sc-demo")[exec_start(unit, "sc-demo").index("--data-dir") + 1]
    assert data_dir == f"/var/lib/{state}"
    assert settings["ProtectSystem"] == ["strict"]
    assert "ReadWritePaths" not in settings
    env_file = settings["EnvironmentFile"][0]
    assert env_file == ("/etc/lianfu/hub.env" if unit is HUB else "/etc/lianfu/spoke-%i.env")
    assert settings["MemoryDenyWriteExecute"] == ["yes"]
    assert settings["User"] == ["lianfu"]



def test_the_spoke_unit_is_hardened_as_the_hub_unit() -> None:
    """The hub's is the one run under its filters in test_deploy_nginx.py; the spoke's confinement is the same."""
    hub, spoke = unit_settings(HUB), unit_settings(SPOKE)
    differing = {key for key in hub.keys() | spoke.keys() if hub.get(key) != spoke.get(key)}
    # Only what names the node may differ: its program, its settings file, its data directory.
    assert differing == {"ExecStart", "EnvironmentFile", "Environment", "StateDirectory", "CacheDirectory"}, differing
