"""`lianfu demo`: start the nodes as separate processes with seeded data, stop them together."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

DEMO_ACCOUNTS = [
    ("office", "office", "hub", ""),
    ("leader", "office", "hub", "leader"),
    ("liaison_xz", "liaison", "hub", "criminal-investigation 刑侦大队"),
    ("liaison_jz", "liaison", "hub", "economic-crime 经侦大队"),
    ("subcenter_sh", "subcenter", "sc-shanghai", ""),
    ("subcenter_sz", "subcenter", "sc-suzhou", ""),
    ("workstation_1", "enterprise", "ws-demo-1", ""),
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
    print("Demo accounts (password: lianfu-demo):")
    for username, role, node, note in DEMO_ACCOUNTS:
        print(f"  {username:<14} {role:<10} {node:<12} {note}")
    print("\nCtrl-C stops the demo.", flush=True)
    try:
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    stop()
    return 0
