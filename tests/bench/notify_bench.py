"""Notification delivery benchmark, run by hand: one `name: value unit` line per figure.

    python tests/bench/notify_bench.py [--db URL | --pg] [--latency N] [--burst N] [--no-mail]

The hub's scheduler runs in this process at its default intervals (the sender every second), against a local WeCom
robot (a small HTTP server) and a local mailbox (aiosmtpd), on a throwaway SQLite file by default (`--pg` starts a
throwaway PostgreSQL server; `--db` takes a database URL, which it migrates).

* latency: from the commit of an event's transaction to the robot receiving its message, events one at a time;
  `wake` commits in the scheduler's process (the commit wakes the sender), `poll` commits through another engine
  (only the sender's one-second tick finds it: what a commit in another worker or host sees).
* burst: N events queued while the sender is held (each to a unit's robot and its liaison officer's mailbox), then
  drained: every message counted at the receivers (none lost, none twice), and the sender's rate in messages per
  second from its release to the last message received.
"""
from __future__ import annotations

import argparse
import logging
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for _p in (str(ROOT), str(HERE.parent)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from sqlalchemy import update  # noqa: E402

from common.bootstrap import ensure_reference_data  # noqa: E402
from common.db import Database  # noqa: E402
from common.migrate import upgrade  # noqa: E402
from common.models import Unit, User  # noqa: E402
from common.notify.service import Audience, Notice, notify  # noqa: E402
from common.settings import NotifySettings, Settings  # noqa: E402
from hub.scheduler import HubScheduler  # noqa: E402
from sync import capture  # noqa: E402
from tests.notify_support import Mailbox, Robot, eventually  # noqa: E402

UNIT = "criminal-investigation"


def say(name: str, value: float, unit: str, fmt: str = ".1f") -> None:
    print(f"{name}: {value:{fmt}} {unit}", flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def prepare(url: str, robot: Robot, mail: bool) -> None:
    upgrade(url)
    db = Database.connect(url)
    capture.install(db, "hub", outbox=False)
    with db.transaction() as session:
        ensure_reference_data(session, Settings())
        session.execute(update(Unit).where(Unit.id == UNIT).values(webhook_url=robot.url("bench0001")))
        if mail and session.query(User).filter(User.username == "bench_liaison").first() is None:
            session.add(User(username="bench_liaison", role="liaison", node_id="hub", unit_id=UNIT,
                             display_name="压测联络员", password_hash="!", email="liaison@bench.test"))
    db.dispose()


def tell(session: object, key: str, text: str, mail: bool) -> None:
    notify(session, key, Notice(kind="bench", title=text, body=text, link="/cases/bench", group_text=text),
           Audience(units=(UNIT,)), channels=("inbox", "wecom", "email") if mail else ("wecom",))


def latency(db: Database, committer: Database, robot: Robot, n: int, label: str) -> None:
    waits: list[float] = []
    lost = 0
    for i in range(n):
        marker = f"lat-{label}-{i} "
        before = len(robot.received)
        with committer.transaction() as session:
            tell(session, f"bench:{label}:{i}", marker, mail=False)
        committed = time.time()
        if not robot.wait_for(before + 1, timeout=15):
            lost += 1
            continue
        got = next((at for _, body, at in reversed(robot.received) if marker in body["markdown"]["content"]), None)
        if got is None:
            lost += 1
            continue
        waits.append(got - committed)
        time.sleep(random.uniform(0.05, 1.05))  # events at any moment of the sender's one-second tick
    say(f"notify_latency_{label}_median", statistics.median(waits) * 1000, "ms")
    say(f"notify_latency_{label}_p99", percentile(waits, 0.99) * 1000, "ms")
    say(f"notify_latency_{label}_max", max(waits) * 1000, "ms")
    say(f"notify_latency_{label}_lost", lost, "messages", "d")


def burst(scheduler: HubScheduler, db: Database, robot: Robot, mailbox: Mailbox | None, n: int) -> None:
    """N events queued while the sender is held, then drained: the sender's own rate, not the writers'. `db` is not
    the scheduler's (its commits would wake the sender, and waking a held job releases it)."""
    robot_before = len(robot.received)
    mail_before = len(mailbox.messages) if mailbox else 0
    jobs = scheduler._scheduler  # noqa: SLF001 - the benchmark holds the sender while it queues
    jobs.pause_job("deliveries")
    started = time.time()
    chunk = 500
    for first in range(0, n, chunk):
        with db.transaction() as session:
            for i in range(first, min(n, first + chunk)):
                tell(session, f"burst:{i}", f"burst-{i} ", mail=mailbox is not None)
    queued = time.time()
    say("notify_burst_queue_seconds", queued - started, "s", ".2f")
    jobs.resume_job("deliveries")
    scheduler.wake()

    def drained() -> bool:
        return (len(robot.received) - robot_before >= n
                and (mailbox is None or len(mailbox.messages) - mail_before >= n))

    eventually(drained, timeout=max(120.0, n / 20), step=0.05)
    robot_got = Counter(body["markdown"]["content"].split("\n")[1].strip() for _, body, _ in robot.received[robot_before:])
    say("notify_burst_robot_received", sum(1 for i in range(n) if robot_got.get(f"burst-{i}", 0) >= 1), f"of {n}", "d")
    say("notify_burst_robot_duplicates", sum(1 for v in robot_got.values() if v > 1), "messages", "d")
    total = len(robot.received) - robot_before
    last = max((at for _, _, at in robot.received[robot_before:]), default=queued)
    if mailbox is not None:
        events = Counter(str(m["X-Lianfu-Event"]) for _, m, _ in mailbox.messages[mail_before:])
        say("notify_burst_mail_received", sum(1 for i in range(n) if events.get(f"burst:{i}", 0) >= 1), f"of {n}", "d")
        say("notify_burst_mail_duplicates", sum(1 for v in events.values() if v > 1), "messages", "d")
        total += len(mailbox.messages) - mail_before
        last = max([last, *(at for _, _, at in mailbox.messages[mail_before:])])
    say("notify_burst_drain_seconds", last - queued, "s", ".2f")
    say("notify_burst_rate", total / max(1e-9, last - queued), "messages/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", help="Database URL (default: a throwaway SQLite file)")
    parser.add_argument("--pg", action="store_true", help="Start a throwaway PostgreSQL server and use it")
    parser.add_argument("--latency", type=int, default=200, help="Events timed one at a time, per mode [200]")
    parser.add_argument("--burst", type=int, default=10_000, help="Events in the burst [10000]")
    parser.add_argument("--no-mail", action="store_true", help="Robots only in the burst")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    work = Path(tempfile.mkdtemp(prefix="lianfu-notify-bench-"))
    server = None
    url = args.db or f"sqlite:///{work / 'hub.db'}"
    if args.pg:
        from pgserver import PostgresServer

        server = PostgresServer(work)
        server.start()
        url = server.url()
    print(f"# database: {url.split('://')[0]}", flush=True)
    with Robot() as robot, Mailbox() as mailbox:
        mail = not args.no_mail
        prepare(url, robot, mail)
        settings = Settings(db_url=url, data_dir=work, base_url="https://lianfu.bench.test",
                            notify=NotifySettings(smtp_url=mailbox.url(), mail_from="hub@bench.test"))
        db = Database.connect(url)
        capture.install(db, "hub", outbox=False)
        other = Database.connect(url)  # another worker's engine: its commits do not wake this process's sender
        capture.install(other, "hub", outbox=False)
        scheduler = HubScheduler(db, settings)
        scheduler.start()
        try:
            if not eventually(lambda: scheduler.running_jobs, timeout=15):
                raise SystemExit("the scheduler did not take the runner lock")
            if args.latency:
                latency(db, db, robot, args.latency, "wake")
                latency(db, other, robot, args.latency, "poll")
            if args.burst:
                burst(scheduler, other, robot, mailbox if mail else None, args.burst)
        finally:
            scheduler.stop()
            db.dispose()
            other.dispose()
            if server is not None:
                server.stop()


if __name__ == "__main__":
    main()
