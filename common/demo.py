"""`lianfu demo`: start the nodes as separate processes with seeded data, stop them together."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from common.settings import child_environment

DEMO_PASSWORD = "lianfu-demo"

# The accounts of the outside contract: username, role, node, unit, leader flag, display name.
DEMO_ACCOUNTS = [
    ("office", "office", "hub", None, False, "联服办值班员"),
    ("leader", "office", "hub", None, True, "联服中心主任"),
    ("liaison_xz", "liaison", "hub", "criminal-investigation", False, "刑侦大队联络员"),
    ("liaison_jz", "liaison", "hub", "economic-crime", False, "经侦大队联络员"),
    ("subcenter_sh", "subcenter", "sc-shanghai", None, False, "上海分中心主任"),
    ("subcenter_sz", "subcenter", "sc-suzhou", None, False, "苏州分中心主任"),
    ("workstation_1", "enterprise", "ws-demo-1", None, False, "工作站站长"),
]


# The spokes of the outside contract, on the ports after the hub's.
DEMO_SPOKES = ["sc-shanghai", "ws-demo-1"]


def _lianfu(*args: str) -> list[str]:
    return [sys.executable, "-m", "common.cli_entry", *args]


def _wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    return False


def run_demo(base_port: int, root: str, enterprises: int) -> int:
    root_dir = Path(root)
    hub_dir = root_dir / "hub"
    hub_dir.mkdir(parents=True, exist_ok=True)
    # Plain-http cookies on loopback unless the caller asked otherwise; the nodes read it with their settings.
    env = child_environment({"LIANFU_COOKIE_SECURE": "0"}, LIANFU_DATA_DIR=str(hub_dir))
    if not (hub_dir / "seeded").exists():
        print(f"Seeding demo data ({enterprises} enterprises)…", flush=True)
        subprocess.run(_lianfu("hub", "seed-demo", "--enterprises", str(enterprises)), env=env, check=True)
        (hub_dir / "seeded").write_text("ok\n")
    hub_url = f"http://127.0.0.1:{base_port}"
    hub = subprocess.Popen(_lianfu("hub", "serve", "--port", str(base_port)), env=env)
    processes = [hub]

    def stop(*_: object) -> None:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()

    signal.signal(signal.SIGTERM, lambda *_: (stop(), sys.exit(0)))
    if not _wait_healthy(hub_url, hub):
        print("The hub did not start; see the messages above.", file=sys.stderr)
        stop()
        return 1
    lines = [f"  hub          {hub_url}/  (data in {hub_dir})"]
    for offset, node in enumerate(DEMO_SPOKES, start=1):
        port = base_port + offset
        spoke_dir = root_dir / node
        spoke_url = f"http://127.0.0.1:{port}"
        spoke_env = {**env, "LIANFU_DATA_DIR": str(spoke_dir), "LIANFU_SYNC_INTERVAL": "10"}
        if not (spoke_dir / "spoke.json").exists() and not _enroll(node, hub_url, spoke_url, env, spoke_env):
            stop()
            return 1
        spoke = subprocess.Popen(_lianfu("spoke", "serve", "--port", str(port)), env=spoke_env)
        processes.append(spoke)
        if not _wait_healthy(spoke_url, spoke):
            print(f"The {node} spoke did not start; see the messages above.", file=sys.stderr)
            stop()
            return 1
        lines.append(f"  {node:<12} {spoke_url}/  (data in {spoke_dir})")
    print("\nLianfu demo is running:\n" + "\n".join(lines) + "\n")
    print(f"Demo accounts (password: {DEMO_PASSWORD}):")
    for username, role, node, unit, leader, display in DEMO_ACCOUNTS:
        note = " ".join(part for part in (unit or "", "leader" if leader else "", display) if part)
        print(f"  {username:<14} {role:<10} {node:<12} {note}")
    print("\nCtrl-C stops the demo.", flush=True)
    try:
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    stop()
    return 0


def _enroll(node: str, hub_url: str, spoke_url: str, hub_env: dict[str, str], spoke_env: dict[str, str]) -> bool:
    """What an operator does for a new node: the office issues a code, the spoke's machine enrolls with it."""
    issued = subprocess.run(_lianfu("hub", "enrollment-code", node), env=hub_env, capture_output=True, text=True)
    if issued.returncode != 0:
        print(f"No enrollment code for {node}: {issued.stderr.strip()}", file=sys.stderr)
        return False
    code = issued.stdout.split()[0]
    enrolled = subprocess.run(_lianfu("spoke", "enroll", "--hub", hub_url, "--code", code, "--url", spoke_url),
                              env=spoke_env, capture_output=True, text=True)
    if enrolled.returncode != 0:
        print(f"The {node} spoke could not enroll: {enrolled.stderr.strip()}", file=sys.stderr)
        return False
    return True
