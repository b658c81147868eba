"""deploy/lianfu-as, the operators' way to run a `lianfu` command as the service account with a node's env file:
a wrong call is one line and a non-zero exit; a right one runs the command with the file's settings."""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from deploy_support import DEPLOY, ROOT

SCRIPT = DEPLOY / "lianfu-as"


def _installed(tmp_path: Path) -> Path:
    """The layout of an install (/opt/lianfu/deploy/lianfu-as next to /opt/lianfu/venv/bin/lianfu) in tmp_path,
    its `lianfu` being this checkout's CLI run by this interpreter."""
    (tmp_path / "deploy").mkdir()
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    shutil.copy2(SCRIPT, tmp_path / "deploy" / "lianfu-as")
    lianfu = tmp_path / "venv" / "bin" / "lianfu"
    lianfu.write_text(f"#!/bin/sh\ncd {ROOT} && exec {sys.executable} -m common.cli_entry \"$@\"\n")
    lianfu.chmod(0o755)
    return tmp_path / "deploy" / "lianfu-as"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*args], capture_output=True, text=True, timeout=120)


def test_a_wrong_call_is_one_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    script = _installed(tmp_path)
    usage = _run(str(script))
    assert usage.returncode == 2 and usage.stderr.count("\n") == 1 and "usage: lianfu-as" in usage.stderr
    unreadable = _run(str(script), str(tmp_path / "missing.env"), "hub", "migrate")
    assert unreadable.returncode == 1 and unreadable.stderr.strip() == f"lianfu-as: cannot read {tmp_path / 'missing.env'}"
    env_file = tmp_path / "hub.env"
    env_file.write_text("LIANFU_DB=sqlite:///x\n")
    (tmp_path / "venv" / "bin" / "lianfu").unlink()
    not_installed = _run(str(script), str(env_file), "hub", "migrate")
    assert not_installed.returncode == 1 and "is not installed" in not_installed.stderr


@pytest.mark.skipif(os.geteuid() == 0 and not any(p.pw_name == "lianfu" for p in pwd.getpwall()),
                    reason="as root lianfu-as runs the command as the `lianfu` account, which this machine lacks")
def test_the_command_runs_with_the_env_files_settings(tmp_path: Path) -> None:
    script = _installed(tmp_path)
    data_dir = tmp_path / "hub-data"
    env_file = tmp_path / "hub.env"
    env_file.write_text(f"# 注释行被跳过\nLIANFU_DATA_DIR={data_dir}\nLIANFU_HOME_CITY_NAME=启东市\n"
                        f"LIANFU_COOKIE_SECURE=0\n")
    migrated = _run(str(script), str(env_file), "hub", "migrate")
    assert migrated.returncode == 0, migrated.stderr
    # The hub's database was made where the env file said, not in the caller's directory.
    assert (data_dir / "lianfu.db").exists()
