"""A real hub server process for the browser tests.

Usage::

    with live_hub(enterprises=200) as base_url:
        ...  # e.g. "http://127.0.0.1:41873"

It makes a throwaway data directory, seeds the demo world into its SQLite file with
``lianfu hub seed-demo`` (or copies the data dir that command made for an earlier hub of the
run with the same settings: ``seed_demo_into``), runs ``lianfu hub serve`` on a free loopback port, waits for
``GET /healthz`` to answer 200, and on exit stops the server (SIGTERM, then SIGKILL) and
removes the directory. Each call picks its own port, so several pytest-xdist workers can
run hubs side by side.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

__all__ = ["HubStartError", "free_port", "live_hub", "seed_demo_into"]

ROOT = Path(__file__).resolve().parent.parent

#: Where seeded data dirs are kept to be copied (set by tests/conftest.py for the whole run, shared by its workers).
SEED_TEMPLATES_ENV = "LIANFU_TEST_SEED_TEMPLATES"

#: ``python -m common.cli_entry`` is the ``lianfu`` command run by the interpreter that runs
#: the tests (the venv's), so it works whether or not the console script is on PATH.
LIANFU = [sys.executable, "-m", "common.cli_entry"]


class HubStartError(RuntimeError):
    """The hub could not be seeded or did not come up; the message carries its output."""


def free_port() -> int:
    """A port that is free on 127.0.0.1 right now (the kernel picks it, never a fixed one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _environment(data_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("LIANFU_")}
    env.update({
        "LIANFU_DATA_DIR": str(data_dir),
        # The browser talks plain http to 127.0.0.1. Chromium treats loopback as a secure
        # context and would keep Secure cookies there too, but other clients (urllib, curl,
        # Playwright's request API) may not; plain cookies keep the test setup simple.
        # Production keeps the default LIANFU_COOKIE_SECURE=1.
        "LIANFU_COOKIE_SECURE": "0",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    return env


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def _stop(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no output)"
    return text[-limit:] or "(no output)"


@contextlib.contextmanager
def _serve(data_dir: Path, env: dict[str, str], timeout: float) -> Iterator[str]:
    """Start ``hub serve`` on a fresh free port; retry a few times if another process took the port."""
    for attempt in range(3):
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        log_path = data_dir / f"serve-{attempt}.log"
        # Output goes to a file, not a pipe: a pipe nobody reads would block the server when full.
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [*LIANFU, "hub", "serve", "--host", "127.0.0.1", "--port", str(port)],
                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + timeout
            while True:
                if process.poll() is not None:
                    output = _tail(log_path)
                    if "address already in use" in output.lower() and attempt < 2:
                        break  # lost the race for the port: try another one
                    raise HubStartError(f"lianfu hub serve exited with {process.returncode}:\n{output}")
                if _healthy(f"{base_url}/healthz"):
                    yield base_url
                    return
                if time.monotonic() > deadline:
                    raise HubStartError(f"lianfu hub serve did not answer /healthz within {timeout:.0f} s:\n{_tail(log_path)}")
                time.sleep(0.2)
        finally:
            _stop(process)
    raise HubStartError("could not find a free port for lianfu hub serve")


def _run_seed_demo(data_dir: Path, env: dict[str, str], enterprises: int, timeout: float) -> None:
    seeded = subprocess.run(
        [*LIANFU, "hub", "seed-demo", "--enterprises", str(enterprises)],
        cwd=ROOT, env={**env, "LIANFU_DATA_DIR": str(data_dir)}, stdin=subprocess.DEVNULL, capture_output=True,
        text=True, timeout=max(timeout, 120),
    )
    if seeded.returncode != 0:
        raise HubStartError(f"lianfu hub seed-demo exited with {seeded.returncode}:\n{seeded.stdout}\n{seeded.stderr}")


def seed_demo_into(data_dir: Path, env: dict[str, str], enterprises: int, timeout: float = 120) -> None:
    """Make `data_dir` what ``lianfu hub seed-demo --enterprises N`` makes of a fresh data dir under `env`.

    The first hub of a run with a given N and settings is seeded by the command itself; its data dir (SQLite file and
    secret key, nothing of it running) is kept and every later one is a copy of it, so a test that needs a seeded hub
    pays for serving it, not for migrating and seeding it again. A hub on another database (LIANFU_DB) is always
    seeded by the command."""
    root = os.environ.get(SEED_TEMPLATES_ENV)
    if not root or env.get("LIANFU_DB") or (data_dir.exists() and any(data_dir.iterdir())):
        _run_seed_demo(data_dir, env, enterprises, timeout)
        return
    settings = sorted((k, v) for k, v in env.items() if k.startswith("LIANFU_") and k != "LIANFU_DATA_DIR")
    key = hashlib.sha256(repr((enterprises, settings)).encode()).hexdigest()[:16]
    template = Path(root) / key
    with open(Path(root) / f"{key}.lock", "wb") as lock:
        # Workers of one run share the templates: one seeds while the others wait for it.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (template / ".complete").exists():
            shutil.rmtree(template, ignore_errors=True)
            template.mkdir(parents=True)
            _run_seed_demo(template, env, enterprises, timeout)
            (template / ".complete").touch()
        shutil.copytree(template, data_dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".complete"))


@contextlib.contextmanager
def live_hub(enterprises: int = 200, timeout: float = 60) -> Iterator[str]:
    """Seed a throwaway hub with ``enterprises`` demo enterprises, serve it, yield its base URL."""
    data_dir = Path(tempfile.mkdtemp(prefix="lianfu-live-hub-"))
    try:
        env = _environment(data_dir)
        seed_demo_into(data_dir, env, enterprises, timeout)
        with _serve(data_dir, env, timeout) as base_url:
            yield base_url
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
