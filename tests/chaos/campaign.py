"""The chaos campaign: spokes edit for a while as faults are injected on a seeded schedule; then quiet, and checks.

Run by hand (``make chaos`` runs 20 spokes for 10 minutes)::

    python tests/chaos/campaign.py --spokes 8 --duration 180 --seed 7

A real hub (`lianfu hub serve` on a PostgreSQL started for the campaign) and N spokes (`lianfu spoke serve`, their
scheduled rounds, and `lianfu sync` rounds started and killed by the campaign), each spoke reaching the hub through a
fault proxy (tests/chaos/proxy.py). The report goes to tests/artifacts/chaos/ (chaos-report.json and
chaos-report.txt, with the tail of each process's log); the exit status is 0 only if every check passed.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: the repository's root on the path, as pytest has it
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import select  # noqa: E402

from common.db import Database  # noqa: E402
from sync.models import SyncPeer  # noqa: E402
from tests.chaos import verify  # noqa: E402
from tests.chaos.faults import Injector, schedule  # noqa: E402
from tests.chaos.workload import Clerk, Ledger, Office, run_actor  # noqa: E402
from tests.chaos.world import World  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "chaos"


def run_campaign(spokes: int = 3, duration: float = 30.0, seed: int = 1, fault_every: float = 5.0,
                 sync_interval: float = 3.0, pause: tuple[float, float] = (0.3, 1.0),
                 report_dir: Path = ARTIFACTS, quiet_limit: float = verify.QUIET_LIMIT,
                 required: tuple[str, ...] = (), log: Any = print) -> dict[str, Any]:
    """One campaign; returns its report (also written to `report_dir`). `required`: fault kinds injected at least
    once whatever the seed draws."""
    if spokes < 1 or duration <= 0 or fault_every <= 0:
        raise ValueError("spokes must be 1 or more, duration and fault_every above zero")
    began = time.monotonic()
    printed = log
    log = lambda line: printed(f"[{time.monotonic() - began:6.1f} s] {line}")  # noqa: E731
    root = Path(tempfile.mkdtemp(prefix="lianfu-chaos-"))
    world = World(root, spokes, sync_interval, log)
    report: dict[str, Any] = {"params": {"spokes": spokes, "duration_s": duration, "seed": seed,
                                         "fault_every_s": fault_every, "sync_interval_s": sync_interval},
                              "ok": False, "findings": []}
    try:
        world.start()
        report["setup_s"] = round(time.monotonic() - began, 1)
        log(f"setup done in {report['setup_s']} s; edits and faults for {duration:.0f} s (seed {seed})")
        rng = random.Random(seed)
        faults = schedule(random.Random(rng.random()), sorted(world.spokes), duration, fault_every, required)
        started = time.monotonic()
        ledger = Ledger(started)
        injector = Injector(world, faults, started, log)
        stop = threading.Event()
        actor_errors: list[str] = []
        actors: list[Any] = [Clerk(world, spoke, ledger, random.Random(rng.random()), i)
                             for i, spoke in enumerate(world.spokes.values())]
        for clerk in actors:
            clerk.prime()
        actors.append(Office(world, ledger, random.Random(rng.random())))
        threads = [threading.Thread(target=run_actor, args=(a, stop, pause, random.Random(rng.random()), actor_errors),
                                    name=f"chaos-actor-{i}", daemon=True) for i, a in enumerate(actors)]
        injector.start()
        for thread in threads:
            thread.start()
        time.sleep(duration)
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
        injector.stop()
        edits_s = round(time.monotonic() - started, 1)
        log(f"edits over after {edits_s} s: {len(ledger.writes)} writes; healing every fault")
        injector.heal_all()

        hub = Database.connect(world.db_url)
        try:
            settled = verify.quiet(world, hub, log, quiet_limit)
            log(f"quiet: {'settled' if settled['settled'] else 'NOT settled'} in {settled['seconds']} s")
            at_spokes = {node: verify.spoke_rows(verify.spoke_file(world, node)) for node in world.spokes}
            compared_total = 0
            mismatches: dict[str, list[dict[str, Any]]] = {}
            for node in world.spokes:
                compared, found = verify.compare(at_spokes[node], verify.hub_rows(hub, node))
                compared_total += compared
                if found:
                    mismatches[node] = found
            checked, ledger_problems = verify.check_ledger(world, hub, ledger, at_spokes)
            peers = _peers(hub)
            deliveries = _deliveries(hub)
        finally:
            hub.dispose()

        report.update({
            "edits_s": edits_s,
            "faults": {"planned": len(faults), "by_kind": _by_kind(faults), "list": [f.as_dict() for f in faults]},
            "edits": {"made": len(ledger.writes), "by_status": dict(Counter(w.status for w in ledger.writes)),
                      "by_action": ledger.counts()},
            "sync_rounds": {"cli_started": len(injector.sync_runs),
                            "cli_killed": sum(1 for f in faults if f.outcome == "killed mid-round"),
                            "quiet_asked": sum(settled["rounds_asked"].values()), "hub_peers": peers},
            "quiet": settled,
            "hub_deliveries": deliveries,
            "proxies": {node: dict(spoke.proxy.counts) for node, spoke in world.spokes.items()},
            "scopes": {node: spoke.subtree for node, spoke in world.spokes.items()},
            "rows_compared": compared_total,
            "writes_checked": checked,
            "mismatches": mismatches,
            "ledger_problems": ledger_problems,
            "errors": {"actors": actor_errors[:50], "injector": injector.errors},
            "writes": [w.as_dict() for w in ledger.writes],
        })
        findings = report["findings"]
        if not settled["settled"]:
            findings.append(f"not every queue was empty within {quiet_limit:.0f} s of quiet: {settled['unsettled']}")
        for node, found in mismatches.items():
            findings.append(f"{node} differs from the hub on its scope in {len(found)} ways")
        findings.extend(f"write {p['write']['number']} ({p['write']['action']} by {p['write']['actor']}): "
                        f"{p['problem']}" for p in ledger_problems)
        findings.extend(f"campaign error: {e}" for e in actor_errors[:20] + injector.errors)
        if not ledger.accepted():
            findings.append("no write was accepted: the campaign tested nothing")
        report["ok"] = not findings
    except Exception as exc:  # noqa: BLE001 - the report says so, with where it happened, and is not ok
        report["findings"].append(f"the campaign itself failed: {type(exc).__name__}: {str(exc)[:2000]}")
        report["traceback"] = traceback.format_exc()[-6000:]
    finally:
        report["total_s"] = round(time.monotonic() - began, 1)
        _keep_logs(world, report_dir)
        _write(report, report_dir)
        world.close()
        shutil.rmtree(root, ignore_errors=True)
    return report


def _by_kind(faults: list[Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for fault in faults:
        entry = out.setdefault(fault.kind, {"count": 0, "injected": 0, "times": []})
        entry["count"] += 1
        if fault.started is not None and not fault.outcome.startswith("skipped"):
            entry["injected"] += 1
            entry["times"].append(fault.started)
    return out


def _peers(hub: Database) -> dict[str, dict[str, Any]]:
    with hub.reads() as session:
        return {p.node_id: {"pushed_total": p.pushed_total, "pulled_total": p.pulled_total,
                            "rejected_total": p.rejected_total, "last_error": p.last_error[:200]}
                for p in session.scalars(select(SyncPeer))}


def _deliveries(hub: Database) -> dict[str, int]:
    """The hub's outbox of messages to group robots and mail, by status (its backlog is the pending ones)."""
    from sqlalchemy import func

    from common.models import Delivery

    with hub.reads() as session:
        return {status: int(count) for status, count in
                session.execute(select(Delivery.status, func.count()).group_by(Delivery.status))}


def _keep_logs(world: World, report_dir: Path) -> None:
    if world.fed is None:
        return
    folder = report_dir / "logs"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    for path in world.fed.root.glob("*.log"):
        text = path.read_text(encoding="utf-8", errors="replace")
        (folder / path.name).write_text(text[-200_000:], encoding="utf-8")


def text_report(report: dict[str, Any], with_traceback: bool = True) -> str:
    """The report for a person: figures first, then every finding in detail (and where the campaign's own code
    failed, if it did)."""
    p = report["params"]
    lines = [f"Chaos campaign: {'PASSED' if report['ok'] else 'FAILED'}",
             f"  {p['spokes']} spokes, {p['duration_s']:.0f} s of edits, seed {p['seed']}, a fault every "
             f"~{p['fault_every_s']} s; setup {report.get('setup_s', '?')} s, total {report.get('total_s', '?')} s"]
    faults = report.get("faults")
    if faults:
        lines.append(f"Faults: {faults['planned']} planned")
        for kind, entry in sorted(faults["by_kind"].items()):
            times = ", ".join(f"{t:.1f}" for t in entry["times"])
            lines.append(f"  {kind:<12} injected {entry['injected']}/{entry['count']}  at [{times}] s")
    edits = report.get("edits")
    if edits:
        lines.append(f"Edits: {edits['made']} made — " + ", ".join(f"{k} {v}" for k, v in sorted(edits['by_status'].items())))
        for action, counts in sorted(edits["by_action"].items()):
            lines.append(f"  {action:<22} " + "  ".join(f"{k} {v}" for k, v in counts.items()))
    rounds = report.get("sync_rounds")
    if rounds:
        lines.append(f"Sync rounds: {rounds['cli_started']} `lianfu sync` started during the faults "
                     f"({rounds['cli_killed']} killed mid-round), {rounds['quiet_asked']} asked for in the quiet")
        for node, peer in sorted(rounds["hub_peers"].items()):
            lines.append(f"  {node:<14} pushed {peer['pushed_total']}, pulled {peer['pulled_total']}, "
                         f"rejected {peer['rejected_total']}")
    quiet = report.get("quiet")
    if quiet:
        lines.append(f"Quiet: {'settled' if quiet['settled'] else 'NOT settled'} in {quiet['seconds']} s "
                     f"(outboxes now {sum(quiet['outboxes'].values())})")
    if "hub_deliveries" in report:
        lines.append(f"Hub deliveries by status: {report['hub_deliveries'] or 'none'}")
    if "proxies" in report:
        lines.append("Proxies (connections accepted, and cut): " + "; ".join(
            f"{node} {counts.get('accepted', 0)}" + "".join(f", {k} {v}" for k, v in sorted(counts.items())
                                                           if k != "accepted")
            for node, counts in sorted(report["proxies"].items())))
    if "rows_compared" in report:
        lines.append(f"Rows compared (spokes against the hub's scope): {report['rows_compared']}; writes checked: "
                     f"{report['writes_checked']}")
    lines.append("Findings: none" if not report["findings"] else "Findings:")
    lines.extend(f"  - {finding}" for finding in report["findings"])
    if with_traceback and report.get("traceback"):
        lines.append(report["traceback"])
    for node, found in sorted(report.get("mismatches", {}).items()):
        lines.append(f"Mismatches at {node}:")
        lines.extend(f"  {json.dumps(item, ensure_ascii=False, default=str)[:1500]}" for item in found)
    for problem in report.get("ledger_problems", [])[:30]:
        lines.append(f"Write problem: {json.dumps(problem, ensure_ascii=False, default=str)[:1500]}")
    return "\n".join(lines) + "\n"


def _write(report: dict[str, Any], report_dir: Path) -> None:
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "chaos-report.json").write_text(json.dumps(report, ensure_ascii=False, indent=1, default=str),
                                                  encoding="utf-8")
    (report_dir / "chaos-report.txt").write_text(text_report(report), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The Lianfu chaos campaign (a hub, N spokes, faults, then checks).")
    parser.add_argument("--spokes", type=int, default=20, help="spokes to run [20]")
    parser.add_argument("--duration", type=float, default=600, help="seconds of edits under faults [600]")
    parser.add_argument("--seed", type=int, default=1, help="seed of the edits and of the fault schedule [1]")
    parser.add_argument("--fault-every", type=float, default=5.0, help="mean seconds between faults [5]")
    parser.add_argument("--sync-interval", type=float, default=5.0, help="the spokes' scheduled rounds, seconds [5]")
    parser.add_argument("--report-dir", type=Path, default=ARTIFACTS, help=f"where the report goes [{ARTIFACTS}]")
    args = parser.parse_args(argv)
    if args.spokes < 1 or args.duration <= 0 or args.fault_every <= 0 or args.sync_interval <= 0:
        print("error: --spokes must be 1 or more; --duration, --fault-every and --sync-interval above zero",
              file=sys.stderr)
        return 2
    try:
        report = run_campaign(args.spokes, args.duration, args.seed, args.fault_every, args.sync_interval,
                              pause=(0.3, 1.0) if args.spokes <= 8 else (0.6, 2.0), report_dir=args.report_dir,
                              log=lambda line: print(line, flush=True))
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one line for the operator; the report holds the rest
        print(f"error: the campaign could not run: {type(exc).__name__}: {str(exc).splitlines()[0][:300]} "
              f"(see {args.report_dir})", file=sys.stderr)
        return 1
    print(text_report(report, with_traceback=False), end="")
    print(f"report: {args.report_dir / 'chaos-report.json'}")
    if report.get("traceback"):
        print(f"error: {report['findings'][-1].splitlines()[0][:300]} (see {args.report_dir / 'chaos-report.txt'})",
              file=sys.stderr)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
