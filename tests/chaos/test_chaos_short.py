"""The chaos campaign, short: 3 spokes edit for 30 s while every kind of fault is injected; nothing lost or doubled.

`make chaos` runs the long one (tests/chaos/campaign.py). On a failure the assertion message is the campaign's
report (also in tests/artifacts/chaos/short/, with the tail of every process's log).
"""
from __future__ import annotations

import pytest

from tests.chaos.campaign import ARTIFACTS, run_campaign, text_report
from tests.chaos.faults import KINDS
from tests.pgserver import find_pg_bin

pytestmark = pytest.mark.postgresql

# One of each process kill, the database restart and two of the proxy's faults, whatever the seed draws.
REQUIRED = ("kill_spoke", "kill_sync", "kill_hub", "pg_restart", "proxy_reset", "proxy_stall")


def test_a_short_campaign_leaves_every_spoke_equal_to_the_hub_with_nothing_lost_or_doubled() -> None:
    if find_pg_bin() is None:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not found")
    assert set(REQUIRED) <= set(KINDS)
    report = run_campaign(spokes=3, duration=30, seed=20261207, fault_every=3.5, sync_interval=3,
                          report_dir=ARTIFACTS / "short", required=REQUIRED, log=lambda line: None)
    assert report["ok"], text_report(report)
    # The campaign did what it claims: every required fault went in, and writes were made and accepted under them.
    injected = {kind for kind, entry in report["faults"]["by_kind"].items() if entry["injected"]}
    assert set(REQUIRED) <= injected, text_report(report)
    assert report["edits"]["by_status"].get("accepted", 0) >= 50, text_report(report)
    assert report["quiet"]["settled"] and report["rows_compared"] > 0, text_report(report)
