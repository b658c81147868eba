"""Several hub hosts: how many spokes one hub process serves at p99 ≤ 100 ms, and how many two do, behind nginx.

Run by hand: `python tests/bench/multihost_bench.py` (one `name: value unit` line per figure, notes on stderr).

As the sync benchmark (tests/bench/sync_bench.py) measures one hub under many spokes, with its pieces: a private
PostgreSQL, the demo tree, workstations enrolled only as far as their node tokens, each simulated spoke sending the
requests a real spoke makes in a no-op round (recorded from the engine), rounds starting on schedule (open loop).
Here the hub is `lianfu hub serve` behind a real nginx, first with one process upstream, then with two (separate
data dirs, the same LIANFU_SECRET_KEY, round-robin), so both figures pay for the same proxy hop. The load rises in
steps (spokes syncing every 60 s, simulated at the same request rate by a fifth as many spokes every 12 s) until the
p99 of the requests passes the bar; the capacity is the last step within it. The issue's bar: two processes serve
at least 1.8× the spokes of one (at 500 spokes every 60 s, p99 ≤ 100 ms). On a machine of two cores shared with
PostgreSQL, nginx and the load generator itself, two processes cannot have two cores to themselves: read the figures
with the machine's load, printed at the start and the end.
"""
from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for _p in (str(HERE), str(HERE.parent), str(ROOT)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import httpx  # noqa: E402

import sync_bench  # noqa: E402
from sync_bench import (LIANFU, enroll_light, free_port, load_test, note, pct, process_cpu_seconds,  # noqa: E402
                        record_noop_round, say, stop_process)

NGINX = "/usr/sbin/nginx"
BAR_MS = 100.0


class Host:
    """One `lianfu hub serve` process with a data dir of its own and the hub's shared settings."""

    def __init__(self, name: str, env: dict[str, str], root: Path) -> None:
        self.name, self.data_dir = name, root / name
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.env = {**env, "LIANFU_DATA_DIR": str(self.data_dir)}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.data_dir / "serve.log", "ab") as log:
            self.process = subprocess.Popen([*LIANFU, "hub", "serve", "--port", str(self.port)], cwd=ROOT,
                                            env=self.env, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT)
        wait_healthy(f"http://127.0.0.1:{self.port}", self.process, self.data_dir / "serve.log")

    def cpu_seconds(self) -> float:
        assert self.process is not None
        return process_cpu_seconds(self.process)

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None


def wait_healthy(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{base} did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


class Balanced:
    """nginx on a port of its own in front of the hosts: what the load test aims at (`base`, `cpu_seconds`)."""

    def __init__(self, hosts: list[Host], root: Path) -> None:
        self.hosts = hosts
        self.prefix = root / "nginx"
        for sub in ("", "client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.prefix / sub).mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        servers = "\n".join(f"        server 127.0.0.1:{host.port};" for host in self.hosts)
        user = "user root;\n" if os.geteuid() == 0 else ""
        p = self.prefix
        conf = p / "nginx.conf"
        conf.write_text(f"""{user}daemon off;
worker_processes 1;
pid {p}/nginx.pid;
error_log {p}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {p}/client_body;
    proxy_temp_path {p}/proxy;
    fastcgi_temp_path {p}/fastcgi;
    uwsgi_temp_path {p}/uwsgi;
    scgi_temp_path {p}/scgi;
    client_max_body_size 64m;
    upstream lianfu_hub {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{self.port} backlog=4096;
        location / {{
            proxy_pass http://lianfu_hub;
            # A connection per request to the hosts: a kept one that uvicorn closes when idle would be a 502.
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_next_upstream off;
        }}
    }}
}}
""")
        self.process = subprocess.Popen([NGINX, "-p", str(p), "-c", str(conf), "-e", str(p / "error.log")],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_healthy(self.base, self.process, p / "error.log")

    def cpu_seconds(self) -> float:
        return sum(host.cpu_seconds() for host in self.hosts)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)
        self.process = None


def capacity(label: str, target: Balanced, hub_db: Any, root: Path, steps: list[int], period: float,
             duration: float, requests: list[Any] | None, every_step: bool = False) -> tuple[int, list[Any]]:
    """The most spokes (every 60 s) served within the bar, stepping up until a step misses it."""
    per_60s = 60.0 / period
    most = max(steps)
    simulated = int(most / per_60s)
    nodes = [f"b{label}-{i:04d}" for i in range(simulated)]
    started = time.perf_counter()
    tokens = enroll_light(hub_db, target, nodes, root / f"many-{label}")  # fresh tokens: they live ten minutes
    note(f"{label}: enrolled {len(tokens)} simulated spokes in {time.perf_counter() - started:.1f} s")
    if requests is None:  # recorded once (it makes the node `bench-real`): the same protocol for both runs
        requests = record_noop_round(hub_db, target, root / f"real-{label}")
    # Each hub process warmed alike before anything is timed: every simulated spoke's round once through the
    # balancer (its token verified, the pools and caches of every process filled), as the one process's recorded
    # round warms it. Without it the two processes' first rounds, cold, would be timed and the one's not.
    asyncio.run(load_test(target, tokens, requests, period, period))
    served, within = 0, True
    for step in steps:
        count = int(step / per_60s)
        out = asyncio.run(load_test(target, tokens[:count], requests, period, duration))
        p99 = pct(out["all"], 0.99)
        errors = sum(out["errors"].values())
        say(f"multihost_{label}_{step}_spokes_p99_ms", p99, "ms")
        say(f"multihost_{label}_{step}_spokes_p50_ms", pct(out["all"], 0.50), "ms")
        say(f"multihost_{label}_{step}_spokes_errors", errors, "errors", "d")
        say(f"multihost_{label}_{step}_spokes_hub_cpu", 100 * out["cpu"] / out["elapsed"], "% of one core")
        if errors:
            note(f"{label} at {step}: errors by kind {out['errors']}")
        if p99 > BAR_MS or errors:
            within = False
            if not every_step:
                break
            continue  # measured on, to compare the two at each step on a machine too busy for the bar
        if within:
            served = step
    say(f"multihost_{label}_capacity", served, "spokes every 60 s at p99 ≤ 100 ms", "d")
    return served, requests


def main(argv: list[str] | None = None) -> None:
    import argparse
    import logging

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", default="500,750,1000,1250,1500,2000,2500,3000",
                        help="spokes syncing every 60 s, in rising steps")
    parser.add_argument("--period", type=float, default=12.0, help="seconds between a simulated spoke's rounds")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load per step")
    parser.add_argument("--every-step", action="store_true",
                        help="measure every step even past the bar (the capacity stays the last step within it)")
    args = parser.parse_args(argv)
    logging.disable(logging.INFO)
    steps = [int(s) for s in args.steps.split(",")]
    if not os.access(NGINX, os.X_OK):
        print("multihost: nginx not found")
        return
    from pgserver import PostgresServer, find_pg_bin

    if find_pg_bin() is None:
        print("multihost: PostgreSQL binaries not found")
        return
    from common.db import Database

    work = Path(tempfile.mkdtemp(prefix="lianfu-multihost-bench-"))
    work.chmod(0o755)
    say("multihost_machine_cores", os.cpu_count() or 0, "cores", "d")
    say("multihost_machine_load_avg_at_start", os.getloadavg()[0], "", ".2f")
    sync_bench.say_speed("start")
    try:
        with PostgresServer(work / "pg") as server:
            url = server.create_database("lianfu_multihost")
            env = {k: v for k, v in os.environ.items() if not k.startswith("LIANFU_")}
            env.update({"LIANFU_DB": url, "LIANFU_SECRET_KEY": secrets.token_urlsafe(48), "LIANFU_COOKIE_SECURE": "0",
                        "LIANFU_TRUSTED_PROXIES": "127.0.0.1", "LIANFU_SYNC_INTERVAL": "3600",
                        "PYTHONUNBUFFERED": "1"})
            seeded = subprocess.run([*LIANFU, "hub", "seed-demo", "--enterprises", "200"], cwd=ROOT,
                                    env={**env, "LIANFU_DATA_DIR": str(work / "seed")}, capture_output=True,
                                    text=True)
            if seeded.returncode != 0:
                raise RuntimeError(seeded.stderr)
            hub_db = Database.connect(url)
            figures = {}
            requests = None
            try:
                for label, count in (("one", 1), ("two", 2)):
                    hosts = [Host(f"{label}-{n}", env, work) for n in range(count)]
                    target = Balanced(hosts, work / label)
                    try:
                        for host in hosts:
                            host.start()
                        target.start()
                        figures[label], requests = capacity(label, target, hub_db, work, steps, args.period,
                                                            args.duration, requests, args.every_step)
                    finally:
                        target.stop()
                        for host in hosts:
                            host.stop()
            finally:
                hub_db.dispose()
            if figures.get("one"):
                say("multihost_two_over_one", figures["two"] / figures["one"], "×", ".2f")
    finally:
        say("multihost_machine_load_avg_at_end", os.getloadavg()[0], "", ".2f")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
