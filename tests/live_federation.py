"""A real federation for integration tests: a hub process and spoke processes, enrolled the way an operator does.

Usage::

    with Federation(enterprises=20) as fed:
        fed.enroll("sc-shanghai")
        spoke_url = fed.start_spoke("sc-shanghai")
        fed.stop_hub(); ...; fed.start_hub()

Everything runs through the `lianfu` command (seed-demo, hub serve, hub enrollment-code, spoke enroll, spoke serve)
in a throwaway directory, each process on its own free loopback port; the hub keeps its port across restarts.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.live_hub import (
    LIANFU, ROOT, HubStartError, _environment, _healthy, _stop, _tail, free_port, seed_demo_into,
)


class Federation:
    def __init__(self, enterprises: int = 20, timeout: float = 60, spoke_env: dict[str, str] | None = None,
                 db_url: str | None = None) -> None:
        """`db_url`: the hub's database (a PostgreSQL URL), else SQLite in its data dir."""
        self.enterprises = enterprises
        self.timeout = timeout
        self.root = Path(tempfile.mkdtemp(prefix="lianfu-federation-"))
        self.hub_dir = self.root / "hub"
        self.hub_env = _environment(self.hub_dir)
        if db_url:
            self.hub_env["LIANFU_DB"] = db_url
        self.hub_port = free_port()
        self.hub_url = f"http://127.0.0.1:{self.hub_port}"
        self.spoke_env = {"LIANFU_INTROSPECTION_CACHE": "0", "LIANFU_SYNC_INTERVAL": "3600", **(spoke_env or {})}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.spoke_urls: dict[str, str] = {}
        self.sync_runs: list[SyncRun] = []
        self._numbering = threading.Lock()
        self._next_number = 1

    # --- lifecycle ------------------------------------------------------------------------------------------------

    def __enter__(self) -> "Federation":
        try:
            seed_demo_into(self.hub_dir, self.hub_env, self.enterprises, self.timeout)
            self.start_hub()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    def close(self) -> None:
        for run in self.sync_runs:
            run.kill()
        for process in self.processes.values():
            _stop(process)
        shutil.rmtree(self.root, ignore_errors=True)

    def _start(self, name: str, args: list[str], env: dict[str, str], url: str) -> None:
        log_path = self.root / f"{name}.log"
        with open(log_path, "ab") as log:
            process = subprocess.Popen([*LIANFU, *args], cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT)
        self.processes[name] = process
        deadline = time.monotonic() + self.timeout
        while not _healthy(f"{url}/healthz"):
            if process.poll() is not None or time.monotonic() > deadline:
                _stop(process)
                raise HubStartError(f"{name} did not come up:\n{_tail(log_path)}")
            time.sleep(0.2)

    def start_hub(self) -> str:
        self._start("hub", ["hub", "serve", "--host", "127.0.0.1", "--port", str(self.hub_port)], self.hub_env,
                    self.hub_url)
        return self.hub_url

    def stop_hub(self) -> None:
        _stop(self.processes.pop("hub"))

    def kill_hub(self) -> None:
        """SIGKILL the hub: no graceful shutdown, whatever it was doing is cut off (start it again with start_hub)."""
        self.kill("hub")

    def kill(self, name: str) -> None:
        """SIGKILL a server process (the hub, or a spoke by its node) and reap it; start it again with start_*."""
        process = self.processes.pop(name)
        process.kill()
        process.wait(timeout=self.timeout)

    def log(self, name: str) -> str:
        return _tail(self.root / f"{name}.log", 20000)

    # --- commands -------------------------------------------------------------------------------------------------

    def run_hub_command(self, *args: str, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*LIANFU, "hub", *args], cwd=ROOT, env=self.hub_env, capture_output=True, text=True,
                              input=input_text, timeout=120)
        if done.returncode != 0:
            raise AssertionError(f"lianfu hub {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def spoke_dir(self, node: str) -> Path:
        return self.root / node

    def spoke_environment(self, node: str) -> dict[str, str]:
        return {**_environment(self.spoke_dir(node)), **self.spoke_env}

    def enrollment_code(self, node: str) -> str:
        return self.run_hub_command("enrollment-code", node).stdout.split()[0]

    def enroll(self, node: str, code: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        port = free_port()
        self.spoke_urls[node] = f"http://127.0.0.1:{port}"
        done = subprocess.run([*LIANFU, "spoke", "enroll", "--hub", self.hub_url, "--code", code or self.enrollment_code(node),
                               "--url", self.spoke_urls[node]],
                              cwd=ROOT, env=self.spoke_environment(node), capture_output=True, text=True, timeout=120)
        if check and done.returncode != 0:
            raise AssertionError(f"lianfu spoke enroll exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def start_spoke(self, node: str) -> str:
        url = self.spoke_urls[node]
        port = url.rsplit(":", 1)[1]
        self._start(node, ["spoke", "serve", "--host", "127.0.0.1", "--port", port], self.spoke_environment(node), url)
        return url

    def stop_spoke(self, node: str) -> None:
        _stop(self.processes.pop(node))

    # --- sync rounds driven from the command line (the spoke's server need not run) -------------------------------

    def start_sync(self, node: str, *args: str) -> SyncRun:
        """`lianfu sync [args] --data-dir <spoke dir>` in the background; its output goes to files in the root."""
        with self._numbering:  # rounds may be started from several threads (tests/chaos): each its own files
            number = self._next_number
            self._next_number += 1
        stdout_path = self.root / f"sync-{node}-{number}.out"
        stderr_path = self.root / f"sync-{node}-{number}.err"
        with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
            process = subprocess.Popen([*LIANFU, "sync", *args, "--data-dir", str(self.spoke_dir(node))], cwd=ROOT,
                                       env=self.spoke_environment(node), stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=err)
        run = SyncRun(process, stdout_path, stderr_path)
        with self._numbering:
            self.sync_runs.append(run)
        return run

    def run_sync(self, node: str, timeout: float = 120) -> SyncRun:
        """One `lianfu sync` round for a spoke, waited for (see SyncRun.returncode and .summary). A spoke that runs
        scheduled rounds may be in one just then (more often on a loaded machine): the command says so and is run
        again once that round is over."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.start_sync(node)
            run.wait(max(1.0, deadline - time.monotonic()))
            if run.returncode == 0 or "already running" not in run.stdout() or time.monotonic() > deadline:
                return run
            time.sleep(0.5)

    def sync_status(self, node: str) -> dict[str, Any]:
        """`lianfu sync status --json` of a spoke."""
        run = self.start_sync(node, "status", "--json")
        if run.wait(60) != 0:
            raise AssertionError(f"lianfu sync status exited {run.returncode}:\n{run.output()}")
        return json.loads(run.stdout())

    def spoke_config(self, node: str) -> dict[str, Any]:
        return json.loads((self.spoke_dir(node) / "spoke.json").read_text(encoding="utf-8"))

    def point_spoke_at(self, node: str, hub_url: str) -> None:
        """Make a spoke call the hub at another address (a proxy); its issuer stays the hub's own URL."""
        path = self.spoke_dir(node) / "spoke.json"
        config = self.spoke_config(node)
        config["hub_url"] = hub_url.rstrip("/")
        path.write_text(json.dumps(config, ensure_ascii=False, indent=2), encoding="utf-8")


@dataclass
class SyncRun:
    """One `lianfu sync` process started by Federation.start_sync."""

    process: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path

    @property
    def returncode(self) -> int | None:
        return self.process.poll()

    def running(self) -> bool:
        return self.process.poll() is None

    def wait(self, timeout: float = 120) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"lianfu sync did not finish within {timeout:.0f} s:\n{self.output()}") from None

    def kill(self) -> int:
        """SIGKILL (if still running) and reap the process."""
        if self.process.poll() is None:
            self.process.kill()
        return self.process.wait(timeout=30)

    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    def output(self) -> str:
        return f"{self.stdout()}\n{_tail(self.stderr_path)}"

    @property
    def summary(self) -> dict[str, Any] | None:
        """The JSON summary `lianfu sync` printed last, or None (killed before it printed one)."""
        for line in reversed(self.stdout().splitlines()):
            line = line.strip()
            if line.startswith("{"):
                return json.loads(line)
        return None
