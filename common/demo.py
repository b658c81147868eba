"""`lianfu demo`: start the nodes as separate processes with seeded data, stop them together."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

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
    env = {**os.environ, "LIANFU_DATA_DIR": str(hub_dir), "LIANFU_COOKIE_SECURE": os.environ.get("LIANFU_COOKIE_SECURE", "0")}
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
    print(f"\nLianfu demo is running:\n  hub  {hub_url}/  (data in {hub_dir})")
    print("  the sub-center and workstation spokes join when sync lands\n")
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
