"""Where sync time goes: cProfile of the spoke's side (in this process) and of the hub's (a hub process under cProfile).

    .venv/bin/python tests/bench/sync_profile.py noop      # no-op rounds of a 1,000-row spoke, hub of 10k rows
    .venv/bin/python tests/bench/sync_profile.py pull      # initial pull of --rows rows
    .venv/bin/python tests/bench/sync_profile.py push      # push of --rows rows made at a spoke
    .venv/bin/python tests/bench/sync_profile.py both      # 100 rows changed each way, one round
    .venv/bin/python tests/bench/sync_profile.py memory    # a pull's resident memory page by page (--tracemalloc)

The hub runs as `sync_profile.py serve-profiled`: uvicorn in the main thread under cProfile, with
`anyio.to_thread.run_sync` made to run its function inline, so one profiler sees the whole request (the app, the
authentication, the handler's database work). Requests are then served one at a time, which is all a profile needs.
Each request's own time at the hub is read from its Server-Timing header.
"""
from __future__ import annotations

import cProfile
import io
import os
import pstats
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import sync_bench as sb


def serve_profiled(db_url: str, port: int, data_dir: str, out: str) -> None:
    import anyio.to_thread
    import uvicorn

    async def inline(func: Any, *args: Any, **_: Any) -> Any:
        return func(*args)

    anyio.to_thread.run_sync = inline  # type: ignore[assignment]
    os.environ.update({"LIANFU_DB": db_url, "LIANFU_DATA_DIR": data_dir, "LIANFU_COOKIE_SECURE": "0"})
    from hub.app import create_app

    app = create_app()
    profiler = cProfile.Profile()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))

    def dump(*_: Any) -> None:
        profiler.disable()
        profiler.dump_stats(out)
        os._exit(0)

    signal.signal(signal.SIGUSR1, dump)
    profiler.enable()
    server.run()


class ProfiledHub(sb.HubServer):
    def __init__(self, url: str, data_dir: Path) -> None:
        super().__init__(url, data_dir)
        self.stats = data_dir / "hub.prof"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Migrated and keyed as `hub serve` does before it starts uvicorn.
        subprocess.run([*sb.LIANFU, "hub", "migrate", "--db", self.url], cwd=sb.ROOT, env=sb.environment(self.data_dir),
                       check=True, capture_output=True)
        from common.settings import ensure_secret_key, load_settings

        os.environ["LIANFU_DATA_DIR"] = str(self.data_dir)
        ensure_secret_key(load_settings("hub", data_dir=str(self.data_dir)))
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([sys.executable, __file__, "serve-profiled", self.url, str(self.port),
                                             str(self.data_dir), str(self.stats)], cwd=sb.ROOT,
                                            env=sb.environment(self.data_dir), stdout=log, stderr=subprocess.STDOUT)
        import httpx

        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(self.log.read_text()[-3000:])
            time.sleep(0.2)

    def reset(self) -> None:
        """Throw away the profile so far (setup requests), keep serving: restart the profiled process."""
        self.stop()
        self.start()

    def collect(self) -> pstats.Stats:
        assert self.process is not None
        self.process.send_signal(signal.SIGUSR1)
        self.process.wait(timeout=60)
        self.process = None
        if os.environ.get("LIANFU_PROFILE_KEEP"):
            import shutil

            shutil.copy(self.stats, os.environ["LIANFU_PROFILE_KEEP"])  # for pstats by hand (callers, callees)
        return pstats.Stats(str(self.stats))


class _Off:
    def enable(self) -> None:
        pass

    def disable(self) -> None:
        pass


def _client_setup_cost() -> None:
    """What HubLink.http() costs before any byte is sent: a new httpx.Client (and its SSL context) per call."""
    import httpx

    times = []
    for _ in range(10):
        started = time.perf_counter()
        httpx.Client(base_url="http://127.0.0.1:1").close()
        times.append((time.perf_counter() - started) * 1000)
    print(f"\nhttpx.Client() + close, as HubLink.http() does per call: median {statistics.median(times):.1f} ms")


class PlainHub(sb.HubServer):
    def reset(self) -> None:
        pass

    def collect(self) -> None:
        return None


def top(stats: pstats.Stats, title: str, n: int = 30, sort: str = "cumulative", only: str | None = None) -> None:
    stream = io.StringIO()
    stats.stream = stream
    if only:
        stats.sort_stats(sort).print_stats(only, n)
    else:
        stats.sort_stats(sort).print_stats(n)
    print(f"\n===== {title} (by {sort}) =====")
    print("\n".join(line for line in stream.getvalue().splitlines() if line.strip())[:20000])


def timing_hook() -> list[tuple[str, float, float]]:
    """Per hub call: path, wall time at the spoke, the hub app's own time (Server-Timing)."""
    from sync.hub_link import HubLink

    calls: list[tuple[str, float, float]] = []
    original = HubLink._request

    def _request(self: Any, method: str, path: str, timeout: float | None = None, **kwargs: Any) -> Any:
        started = time.perf_counter()
        response = original(self, method, path, timeout, **kwargs)
        wall = (time.perf_counter() - started) * 1000
        timing = response.headers.get("server-timing", "dur=nan").split("dur=")[1]
        calls.append((path, wall, float(timing)))
        return response

    HubLink._request = _request  # type: ignore[method-assign]
    return calls


def summarize(calls: list[tuple[str, float, float]], rounds: int) -> None:
    by: dict[str, list[tuple[float, float]]] = {}
    for path, wall, server in calls:
        by.setdefault(path, []).append((wall, server))
    print(f"\n===== hub calls per round ({rounds} rounds): path, calls/round, median wall ms, median hub-app ms =====")
    for path, values in by.items():
        print(f"{path:32s} {len(values) / rounds:5.1f} {statistics.median(v[0] for v in values):9.1f} "
              f"{statistics.median(v[1] for v in values):9.1f}")


def _status(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory(hub_db: Any, hub: Any, work: Path, trace: bool) -> None:
    """An initial pull in a fresh process, as `lianfu sync` runs it: resident memory page by page."""
    spoke = sb.Spoke(hub_db, hub, sb.PULL_NODE, work / "m")
    spoke.db.dispose()
    subprocess.run([sys.executable, __file__, "memory-child", str(spoke.data_dir), "1" if trace else "0"], cwd=sb.ROOT,
                   env=sb.environment(spoke.data_dir), check=True)


def memory_child(data_dir: str, trace: bool) -> None:
    import gc
    import tracemalloc

    print(f"interpreter: VmRSS {_status('VmRSS'):.0f} MB")
    from rich.progress import Progress  # noqa: F401 - what `lianfu sync` imports

    from common.bootstrap import prepare_database
    from common.settings import load_settings
    from sync.capture import spoke_database
    from sync.hub_link import HubLink, SpokeConfig
    from sync.client import RoundResult, SpokeSync

    print(f"imports as `lianfu sync`: VmRSS {_status('VmRSS'):.0f} MB")
    config = SpokeConfig.load(Path(data_dir))
    assert config is not None
    settings = load_settings("spoke", data_dir=data_dir).with_overrides(node_id=config.node_id)
    prepare_database(settings)
    print(f"after prepare_database (migrations checked): VmRSS {_status('VmRSS'):.0f} MB, VmHWM {_status('VmHWM'):.0f} MB")
    db = spoke_database(settings.database_url, config.node_id)
    link = HubLink(settings.data_dir, config)
    if trace:
        tracemalloc.start(10)

    def progress(phase: str, done: int, _total: Any) -> None:
        line = f"{phase} {done:>7} rows: VmRSS {_status('VmRSS'):6.0f} MB  VmHWM {_status('VmHWM'):6.0f} MB"
        if trace:
            current, peak = tracemalloc.get_traced_memory()
            line += f"  python now {current / 2**20:6.1f} MB, peak since last page {peak / 2**20:6.1f} MB"
            tracemalloc.reset_peak()
        print(line, flush=True)

    engine = SpokeSync(db, link, settings.data_dir, config.node_id, progress)
    snapshot = None
    if trace:
        original = engine.inbox.apply_rows

        def apply_rows(session: Any, page: Any) -> None:
            nonlocal snapshot
            original(session, page)
            if snapshot is None:
                snapshot = tracemalloc.take_snapshot()  # the first page, decoded and applied, still alive

        engine.inbox.apply_rows = apply_rows  # type: ignore[method-assign]
    engine.pull(RoundResult())
    gc.collect()
    print(f"after the pull: VmRSS {_status('VmRSS'):.0f} MB, VmHWM {_status('VmHWM'):.0f} MB")
    if snapshot is not None:
        print("\nlargest Python allocations alive while the first page is applied (by line):")
        for stat in snapshot.statistics("lineno")[:15]:
            print(f"  {stat.size / 2**20:7.1f} MB  {stat.count:>8}  {stat.traceback[0]}")


def _log_statements(hub_db: Any, server: Any, on: bool) -> None:
    """Every statement's duration into the server log while `on`; when turned off, the logged statements summed by
    text (first 110 characters), slowest first. The bench's own edits are in it too (UPDATE … risk_level)."""
    from sqlalchemy import text

    with hub_db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if on:
            server.log_file.chmod(0o666)
            server.log_file.write_text("")
        connection.execute(text(f"ALTER SYSTEM SET log_min_duration_statement = {0 if on else -1}"))
        connection.execute(text("SELECT pg_reload_conf()"))
    if on:
        time.sleep(0.5)
        return
    time.sleep(0.5)
    totals: dict[str, list[float]] = {}
    import re

    # Parse, bind (where an unnamed statement is planned) and execute are logged apart: each its own line here.
    pattern = re.compile(r"duration: ([0-9.]+) ms\s+(statement|execute|bind|parse)[^:]*:\s*(.*)")
    for line in server.log_file.read_text(errors="replace").splitlines():
        found = pattern.search(line)
        if found:
            key = f"{found.group(2)[:5]:5} " + " ".join(found.group(3).split())[:104]
            totals.setdefault(key, []).append(float(found.group(1)))
    print("\n===== hub database statements of the timed rounds: total ms, calls, statement =====")
    for statement, durations in sorted(totals.items(), key=lambda item: -sum(item[1]))[:30]:
        print(f"{sum(durations):8.1f} {len(durations):4d}  {statement}")
    print(f"{sum(sum(d) for d in totals.values()):8.1f} total")


def setup(work: Path, server: Any, hub_cls: type, rows: int) -> tuple[Any, Any, Any]:
    from common.bootstrap import ensure_reference_data
    from common.db import Database
    from common.migrate import upgrade
    from common.settings import Settings
    from hub.seed import seed_demo

    url = server.create_database("lianfu_prof")
    upgrade(url)
    hub_db = Database.connect(url)
    with hub_db.transaction() as session:
        ensure_reference_data(session, Settings())
        seed_demo(session, 0)
    sb.bulk_insert(hub_db, sb.enterprise_rows(sb.STEADY_ROWS, sb.STEADY_NODE, sb.spread_versions(sb.STEADY_ROWS)))
    sb.filler(hub_db, 10_000 - sb.hub_rows(hub_db))
    if rows:
        sb.bulk_insert(hub_db, sb.enterprise_rows(rows, sb.PULL_NODE))
        sb.analyze(hub_db)
    hub = hub_cls(url, work / "hub")
    hub.start()
    return url, hub_db, hub


def main() -> None:
    import argparse
    import logging

    if sys.argv[1:2] == ["memory-child"]:
        memory_child(sys.argv[2], sys.argv[3] == "1")
        return
    if sys.argv[1:2] == ["serve-profiled"]:
        serve_profiled(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["noop", "pull", "push", "both", "memory"])
    parser.add_argument("--tracemalloc", action="store_true", help="memory: also Python allocations and their sites")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--repeats", type=int, default=3, help="both: rounds of 100 rows each way")
    parser.add_argument("--plain-hub", action="store_true", help="hub not profiled: only the per-call timings")
    parser.add_argument("--pg-log", action="store_true",
                        help="noop, both: the hub database's statements of the timed rounds, slowest first (server log)")
    parser.add_argument("--timings-only", action="store_true",
                        help="nothing profiled (hub nor spoke): per-call wall and hub times of undisturbed rounds")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    import atexit
    import shutil

    from pgserver import PostgresServer

    from sync.client import RoundResult

    work = Path(tempfile.mkdtemp(prefix="lianfu-sync-prof-"))
    work.chmod(0o755)
    atexit.register(shutil.rmtree, work, True)  # after the PostgreSQL server (registered later) has stopped
    calls = timing_hook()
    with PostgresServer(work / "pg") as server:
        hub_cls = PlainHub if args.plain_hub or args.timings_only else ProfiledHub
        if args.what == "memory":
            hub_cls = PlainHub
        _url, hub_db, hub = setup(work, server, hub_cls, args.rows if args.what in ("pull", "memory") else 0)
        try:
            if args.what == "noop" or args.what == "both":
                spoke = sb.Spoke(hub_db, hub, sb.STEADY_NODE, work / "w")
                for _ in range(3):
                    spoke.round()
                engine = spoke.engine()
                engine.round()
                hub.reset()
                calls.clear()
                profiler = cProfile.Profile()
                if args.timings_only:
                    profiler = _Off()  # type: ignore[assignment]
                if args.what == "noop":
                    walls = []
                    if args.pg_log:
                        _log_statements(hub_db, server, True)
                    profiler.enable()
                    for _ in range(args.rounds):
                        started = time.perf_counter()
                        assert engine.round().ok
                        walls.append((time.perf_counter() - started) * 1000)
                    profiler.disable()
                    if args.pg_log:
                        _log_statements(hub_db, server, False)
                    print(f"no-op round: median {statistics.median(walls):.1f} ms, min {min(walls):.1f} ms")
                    summarize(calls, args.rounds)
                else:
                    if args.pg_log:
                        _log_statements(hub_db, server, True)
                    from sync.client import SpokeSync

                    plain_round = SpokeSync.round

                    def profiled_round(self: Any, *a: Any, **k: Any) -> Any:
                        # The spoke's profile holds its rounds only, not the benchmark's own edits between them.
                        profiler.enable()
                        try:
                            return plain_round(self, *a, **k)
                        finally:
                            profiler.disable()

                    SpokeSync.round = profiled_round  # type: ignore[method-assign]
                    cpu: list[float] = []
                    try:
                        took, pulled = sb.both_ways(hub_db, spoke, "subcenter_sz", 100, args.repeats, cpu)
                    finally:
                        SpokeSync.round = plain_round  # type: ignore[method-assign]
                    if args.pg_log:
                        _log_statements(hub_db, server, False)
                    print("both ways rounds ms:", [round(t) for t in took], "CPU ms:", [round(c) for c in cpu],
                          "rows pulled:", pulled)
                    summarize(calls, args.repeats)
            elif args.what == "memory":
                memory(hub_db, hub, work, args.tracemalloc)
                hub.stop()
                return
            elif args.what == "pull":
                spoke = sb.Spoke(hub_db, hub, sb.PULL_NODE, work / "s")
                hub.reset()
                calls.clear()
                engine = spoke.engine()
                profiler = cProfile.Profile()
                result = RoundResult()
                started = time.perf_counter()
                profiler.enable()
                engine.pull(result)
                profiler.disable()
                took = time.perf_counter() - started
                print(f"pulled {result.pulled} rows in {took:.1f} s (profiled): {result.pulled / took:.0f} rows/s")
                summarize(calls, 1)
            else:
                spoke = sb.Spoke(hub_db, hub, sb.PULL_NODE, work / "s")
                spoke.round()
                sb.make_at_spoke(spoke, args.rows, sb.user_id(hub_db, "subcenter_sh"))
                hub.reset()
                calls.clear()
                engine = spoke.engine()
                engine.link.node_token()
                profiler = cProfile.Profile()
                result = RoundResult()
                started = time.perf_counter()
                profiler.enable()
                engine.push(result)
                profiler.disable()
                took = time.perf_counter() - started
                print(f"pushed {result.pushed} rows in {took:.1f} s (profiled): {result.pushed / took:.0f} rows/s")
                summarize(calls, 1)
            if args.timings_only:
                _client_setup_cost()
                return
            hub_stats = hub.collect()
            spoke_stats = pstats.Stats(profiler)
            top(spoke_stats, "SPOKE side (this process)", args.top)
            top(spoke_stats, "SPOKE side (this process)", args.top, "tottime")
            top(spoke_stats, "SPOKE side, project code", args.top, only="/work/main/(common|sync|hub|spoke)/")
            if hub_stats is not None:
                top(hub_stats, "HUB side, project code", args.top, only="/work/main/(common|sync|hub|spoke)/")
                top(hub_stats, "HUB side (uvicorn process)", args.top)
                top(hub_stats, "HUB side (uvicorn process)", args.top, "tottime")
        finally:
            hub.stop()
            hub_db.dispose()


if __name__ == "__main__":
    main()
