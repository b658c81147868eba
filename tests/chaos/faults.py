"""The seeded fault schedule and the injector that runs it.

Kinds: ``kill_spoke`` (SIGKILL a spoke's server, start it again later), ``kill_sync`` (start a `lianfu sync` round
and SIGKILL it part way), ``kill_hub`` (SIGKILL the hub, start it again later), ``proxy_drop`` / ``proxy_reset`` /
``proxy_stall`` / ``proxy_slow`` (one spoke's connections to the hub, for a while), ``pg_restart`` (PostgreSQL
stopped as by a crash, started again later). Nothing is ever restored from a backup.
"""
from __future__ import annotations

import heapq
import random
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from tests.chaos.world import World
from tests.live_federation import SyncRun

KINDS = {"kill_spoke": 3.0, "kill_sync": 3.0, "proxy_drop": 1.0, "proxy_reset": 1.0, "proxy_stall": 1.0,
         "proxy_slow": 1.0, "kill_hub": 1.5, "pg_restart": 1.0}


@dataclass
class Fault:
    kind: str
    target: str  # a spoke's node, "hub" or "postgresql"
    at: float  # planned start, seconds into the campaign
    lasts: float  # how long until it is healed
    started: float | None = None
    healed: float | None = None
    outcome: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def schedule(rng: random.Random, nodes: list[str], duration: float, every: float,
             required: tuple[str, ...] = ()) -> list[Fault]:
    """Faults over the campaign's edits: about one every `every` seconds, from a second in, each healed within the
    edits' duration; each kind in `required` at least once (when there are slots enough). The same seed gives the
    same schedule."""
    times: list[float] = []
    t = rng.uniform(1.0, every)
    while t < duration - 2:
        times.append(t)
        t += rng.expovariate(1.0 / every)
    kinds = rng.choices(list(KINDS), list(KINDS.values()), k=len(times))
    missing = [kind for kind in required if kind not in kinds]
    for kind in missing:
        spare = [i for i, k in enumerate(kinds) if kinds.count(k) > 1 or k not in required]
        if spare:
            kinds[rng.choice(spare)] = kind
    faults: list[Fault] = []
    for t, kind in zip(times, kinds):
        target = "hub" if kind == "kill_hub" else "postgresql" if kind == "pg_restart" else rng.choice(nodes)
        lasts = rng.uniform(0.3, 3.0) if kind == "kill_sync" else rng.uniform(1.0, 6.0)
        faults.append(Fault(kind, target, round(t, 2), round(min(lasts, max(0.3, duration - 1 - t)), 2)))
    return faults


@dataclass(order=True)
class _Step:
    at: float
    order: int
    run: Callable[[], None] = field(compare=False)


class Injector:
    """Runs a schedule in its own thread: starts each fault at its time, heals it when it has lasted."""

    def __init__(self, world: World, faults: list[Fault], started: float, log: Callable[[str], None]) -> None:
        self.world, self.faults, self.started, self.log = world, faults, started, log
        self.errors: list[str] = []
        self.sync_runs: list[tuple[str, SyncRun]] = []
        self.hub_down = False
        self.pg_down = False
        self.down_spokes: set[str] = set()
        self._rounds: dict[int, SyncRun] = {}
        self._steps: list[_Step] = []
        self._order = 0
        self._lock = threading.Lock()
        self._hub_lock = threading.Lock()  # the hub and its database go down and come back one step at a time
        self._spoke_locks = {node: threading.Lock() for node in world.spokes}
        self._workers: list[threading.Thread] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-injector", daemon=True)
        for fault in faults:
            self._plan(fault.at, lambda f=fault: self._start(f))

    def now(self) -> float:
        return time.monotonic() - self.started

    def _plan(self, at: float, run: Callable[[], None]) -> None:
        with self._lock:
            self._order += 1
            heapq.heappush(self._steps, _Step(at, self._order, run))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop injecting (faults not yet started never start) once the steps under way are done; `heal_all` then
        mends what is still broken."""
        self._stop.set()
        self._thread.join(timeout=300)
        for worker in self._workers:
            worker.join(timeout=300)

    def _run(self) -> None:
        # Each step in a thread of its own: a process that takes long to start again holds up no other fault.
        while not self._stop.is_set():
            with self._lock:
                due = self._steps[0] if self._steps and self._steps[0].at <= self.now() else None
                if due is not None:
                    heapq.heappop(self._steps)
            if due is None:
                self._stop.wait(0.1)
                continue
            worker = threading.Thread(target=self._step, args=(due,), name="chaos-fault", daemon=True)
            self._workers.append(worker)
            worker.start()

    def _step(self, step: _Step) -> None:
        try:
            step.run()
        except Exception as exc:  # noqa: BLE001 - kept for the report, the campaign goes on
            self.errors.append(f"{type(exc).__name__}: {exc}")
            self.log(f"fault step failed: {type(exc).__name__}: {exc}")

    # --- one fault ------------------------------------------------------------------------------------------------

    def _start(self, fault: Fault) -> None:
        fed = self.world.fed
        assert fed is not None and self.world.pg is not None
        fault.started = round(self.now(), 2)
        kind = fault.kind
        if kind == "kill_spoke":
            with self._spoke_locks[fault.target]:
                if fault.target in self.down_spokes:
                    fault.outcome = "skipped: already down"
                    return
                fed.kill(fault.target)
                self.down_spokes.add(fault.target)
        elif kind == "kill_sync":
            run = fed.start_sync(fault.target)
            with self._lock:
                self.sync_runs.append((fault.target, run))
                self._rounds[id(fault)] = run
        elif kind in ("kill_hub", "pg_restart"):
            with self._hub_lock:
                if (self.hub_down if kind == "kill_hub" else self.pg_down):
                    fault.outcome = "skipped: already down"
                    return
                if kind == "kill_hub":
                    fed.kill("hub")
                    self.hub_down = True
                else:
                    self.world.pg.halt()
                    self.pg_down = True
        else:
            self.world.spokes[fault.target].proxy.set_mode(kind.removeprefix("proxy_"))
        self.log(f"{fault.started:7.1f}s fault {kind} on {fault.target} for {fault.lasts:.1f}s")
        self._plan(fault.started + fault.lasts, lambda: self._heal(fault))

    def _heal(self, fault: Fault) -> None:
        kind = fault.kind
        if kind == "kill_spoke":
            self.restart_spoke(fault.target)
        elif kind == "kill_sync":
            run = self._rounds.pop(id(fault))
            if run.running():
                run.kill()
                fault.outcome = "killed mid-round"
            else:
                fault.outcome = f"round had ended (exit {run.returncode})"
        elif kind == "kill_hub":
            self.restart_hub()
        elif kind == "pg_restart":
            self.resume_pg()
        else:
            self.world.spokes[fault.target].proxy.set_mode("pass")
        fault.healed = round(self.now(), 2)

    def restart_spoke(self, node: str) -> None:
        with self._spoke_locks[node]:
            if node in self.down_spokes:
                assert self.world.fed is not None
                self.world.fed.start_spoke(node)
                self.down_spokes.discard(node)

    def restart_hub(self) -> None:
        with self._hub_lock:
            if not self.hub_down:
                return
            self._resume_pg()  # the hub migrates as it starts: it needs its database
            assert self.world.fed is not None
            self.world.fed.start_hub()
            self.hub_down = False

    def resume_pg(self) -> None:
        with self._hub_lock:
            self._resume_pg()

    def _resume_pg(self) -> None:
        if self.pg_down:
            assert self.world.pg is not None
            self.world.pg.resume()
            self.pg_down = False

    def heal_all(self) -> None:
        """Every fault off: proxies let everything through, every process runs, PostgreSQL takes connections."""
        for spoke in self.world.spokes.values():
            spoke.proxy.set_mode("pass")
        self.resume_pg()
        self.restart_hub()
        for node in sorted(self.down_spokes):
            self.restart_spoke(node)
        for _, run in self.sync_runs:
            if run.running():
                run.wait(120)
        now = round(self.now(), 2)
        for fault in self.faults:
            if fault.started is not None and fault.healed is None:
                fault.healed = now
                fault.outcome = fault.outcome or "healed at the end of the edits"
            elif fault.started is None:
                fault.outcome = "not started (the edits ended first)"
