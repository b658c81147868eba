"""A served hub (two workers, JSON logs) and a spoke as an operator watches them: metrics by route and by spoke node
added up over the workers, access to them, log lines with request ids, the spoke's own log file, `hub status`."""
from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from common.models import AuditEntry
from tests.live_federation import Federation
from tests.live_hub import LIANFU, ROOT, _healthy, _stop, free_port

NODE = "sc-shanghai"
TOKEN = "metrics-" + uuid.uuid4().hex


class TwoWorkerFederation(Federation):
    """The hub as production runs it: `--workers 2`."""

    def start_hub(self) -> str:
        self._start("hub", ["hub", "serve", "--host", "127.0.0.1", "--port", str(self.hub_port), "--workers", "2"],
                    self.hub_env, self.hub_url)
        return self.hub_url


@pytest.fixture(scope="module")
def fed() -> Iterator[Federation]:
    federation = TwoWorkerFederation(enterprises=10)
    # We act as the hub's reverse proxy on loopback: X-Forwarded-For from 127.0.0.1 is believed.
    federation.hub_env.update({"LIANFU_LOG_FORMAT": "json", "LIANFU_TRUSTED_PROXIES": "127.0.0.1",
                               "LIANFU_METRICS_TOKEN": TOKEN})
    with federation:
        federation.enroll(NODE)
        federation.start_spoke(NODE)
        first = federation.run_sync(NODE)
        assert first.returncode == 0, first.output()
        yield federation


def _samples(text: str) -> dict[str, float]:
    """`name{labels}` → value, labels as Prometheus writes them (sorted by name)."""
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            found[key] = float(value)
    return found


def _scrape(url: str, **headers: str) -> httpx.Response:
    return httpx.get(f"{url}/metrics", headers=headers, timeout=30)


def _wait_for(path: Path, needle: str, timeout: float = 30) -> str:
    """The file's text once it holds `needle` (a log line is written after its answer is sent)."""
    deadline = time.monotonic() + timeout
    while True:
        text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
        if needle in text or time.monotonic() > deadline:
            return text
        time.sleep(0.2)


def test_requests_are_counted_by_route_template_over_both_workers(fed: Federation) -> None:
    ids = [str(uuid.uuid4()) for _ in range(12)]
    for enterprise_id in ids:
        assert httpx.get(f"{fed.hub_url}/api/v1/enterprises/{enterprise_id}", timeout=30).status_code == 401
    for _ in range(4):  # each scrape is answered by either worker: every one adds both up
        response = _scrape(fed.hub_url)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain")
        samples = _samples(response.text)
        counted = {key: value for key, value in samples.items()
                   if key.startswith("lianfu_http_requests_total{") and '/api/v1/enterprises/{' in key
                   and 'status="401"' in key}
        assert sum(counted.values()) == len(ids), counted
        assert not any(enterprise_id in response.text for enterprise_id in ids)  # no ids in labels
        assert any(key.startswith("lianfu_http_request_duration_seconds_count{") and "/api/v1/enterprises/{" in key
                   for key in samples)


def test_sync_rounds_rows_and_peers_are_reported_by_spoke_node(fed: Federation) -> None:
    again = fed.run_sync(NODE)
    assert again.returncode == 0, again.output()
    samples = _samples(_scrape(fed.hub_url).text)
    by_node = {key: value for key, value in samples.items() if f'node="{NODE}"' in key}
    assert samples["lianfu_database_up"] == 1
    assert by_node[f'lianfu_sync_rows_total{{direction="pulled",node="{NODE}"}}'] > 0
    assert by_node[f'lianfu_sync_rounds_total{{node="{NODE}",outcome="completed"}}'] >= 2
    assert sum(v for k, v in by_node.items() if k.startswith("lianfu_sync_calls_total{")) >= 2
    assert by_node[f'lianfu_sync_peer_last_success_timestamp_seconds{{node="{NODE}"}}'] > 0
    assert f'lianfu_sync_peer_queued{{node="{NODE}"}}' in by_node
    # The scheduler's jobs, read from their record: the sender runs every second in the served hub.
    assert samples['lianfu_job_last_run_failed{job="deliveries"}'] == 0
    assert samples['lianfu_job_recorded_runs_total{job="deliveries"}'] >= 1
    assert "lianfu_sync_outbox_backlog" in samples

    # The spoke's backlog is its outbox, as `lianfu sync status` counts it.
    spoke = _samples(_scrape(fed.spoke_urls[NODE]).text)
    assert spoke["lianfu_sync_outbox_backlog"] == fed.sync_status(NODE)["queued"]


def test_metrics_are_refused_to_a_forwarded_client_and_to_a_wrong_token(fed: Federation) -> None:
    assert _scrape(fed.hub_url).status_code == 200  # loopback itself
    # Through the proxy (a trusted one on loopback) for a client elsewhere: not on loopback, refused.
    refused = _scrape(fed.hub_url, **{"X-Forwarded-For": "203.0.113.7"})
    assert refused.status_code == 404
    assert "lianfu_" not in refused.text
    # A client writing its own X-Forwarded-For in front of the proxy's hop is still the proxy's client.
    assert _scrape(fed.hub_url, **{"X-Forwarded-For": "127.0.0.1, 203.0.113.7"}).status_code == 404
    # The token opens it from anywhere; a wrong one is refused, and recorded.
    allowed = _scrape(fed.hub_url, **{"X-Forwarded-For": "203.0.113.7", "Authorization": f"Bearer {TOKEN}"})
    assert allowed.status_code == 200 and "lianfu_http_requests_total" in allowed.text
    wrong = _scrape(fed.hub_url, **{"X-Forwarded-For": "203.0.113.8", "Authorization": f"Bearer {TOKEN}x"})
    assert wrong.status_code == 404
    engine = create_engine(f"sqlite:///{fed.hub_dir / 'lianfu.db'}")
    try:
        with Session(engine) as session:
            entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "metrics.refused")).all()
    finally:
        engine.dispose()
    assert [entry.address for entry in entries] == ["203.0.113.8"]


NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

NGINX_CONF = """daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
worker_processes 1;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen {address}:{port};
        location / {{
            proxy_pass http://127.0.0.1:{hub_port};
            proxy_buffering off;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
}}
"""


def _outside_address() -> str | None:
    """An address of this machine that is not loopback (a client connecting to it is not on loopback)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: only the route is looked up
            address = probe.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_metrics_through_nginx_are_refused_to_a_client_that_is_not_on_loopback(fed: Federation,
                                                                               tmp_path: Path) -> None:
    """nginx on this host forwards to the hub from loopback: the hub decides on the client nginx names, not on
    nginx itself."""
    address = _outside_address()
    if address is None or not Path(NGINX).exists():
        pytest.skip("needs nginx and an address of this machine other than loopback")
    port = free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=tmp_path, address=address, port=port, hub_port=fed.hub_port))
    assert subprocess.run([NGINX, "-t", "-p", str(tmp_path), "-c", str(conf)], capture_output=True).returncode == 0
    with open(tmp_path / "nginx.out", "wb") as out:
        nginx = subprocess.Popen([NGINX, "-p", str(tmp_path), "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT)
    try:
        proxied = f"http://{address}:{port}"
        deadline = time.monotonic() + 30
        while not _healthy(f"{proxied}/healthz"):
            assert nginx.poll() is None and time.monotonic() < deadline, (tmp_path / "error.log").read_text()
            time.sleep(0.2)
        refused = _scrape(proxied)
        assert refused.status_code == 404 and "lianfu_" not in refused.text
        allowed = _scrape(proxied, Authorization=f"Bearer {TOKEN}")
        assert allowed.status_code == 200 and "lianfu_http_requests_total" in allowed.text
        assert _scrape(fed.hub_url).status_code == 200  # the same hub, asked on loopback
    finally:
        _stop(nginx)


def test_json_log_lines_carry_the_request_id_the_answer_echoes(fed: Federation) -> None:
    secret = "s3cret-" + uuid.uuid4().hex
    answer = httpx.get(f"{fed.hub_url}/api/v1/cases?access_token={secret}", headers={"X-Request-ID": "ops-check-1"},
                       timeout=30)
    assert answer.headers["x-request-id"] == "ops-check-1"
    text = _wait_for(fed.root / "hub.log", '"ops-check-1"')
    lines = [line for line in text.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    for record in records:
        assert {"time", "level", "logger", "message", "request_id", "node"} <= set(record), record
    access = [r for r in records if r["request_id"] == "ops-check-1" and r["logger"] == "lianfu.access"]
    assert len(access) == 1, access
    assert access[0]["route"] == "/api/v1/cases" and access[0]["status"] == answer.status_code
    assert access[0]["method"] == "GET" and access[0]["node"] == "hub" and access[0]["duration_ms"] >= 0
    assert secret not in text  # no query strings in the log

    # An id that is not sane (too long, odd characters) is replaced, not echoed.
    for unsane in ("x" * 300, "a b;c"):
        replaced = httpx.get(f"{fed.hub_url}/healthz", headers={"X-Request-ID": unsane}, timeout=30)
        assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["x-request-id"]), replaced.headers["x-request-id"]


def test_the_spoke_writes_its_log_in_its_data_dir(fed: Federation) -> None:
    answer = httpx.get(f"{fed.spoke_urls[NODE]}/api/v1/cases", headers={"X-Request-ID": "spoke-log-1"}, timeout=30)
    assert answer.headers["x-request-id"] == "spoke-log-1"
    log_file = fed.spoke_dir(NODE) / "logs" / "lianfu.log"
    text = _wait_for(log_file, "spoke-log-1")
    assert "Application startup complete" in text
    line = next(line for line in text.splitlines() if "spoke-log-1" in line)
    assert "lianfu.access" in line and "/api/v1/cases" in line and NODE in line


def test_hub_status_shows_the_serving_host_and_the_jobs(fed: Federation) -> None:
    import subprocess

    done = subprocess.run([*LIANFU, "hub", "status", "--json"], cwd=ROOT, env=fed.hub_env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    assert status["schema"]["up_to_date"] and status["schema"]["current"] == status["schema"]["expected"]
    assert status["database"]["kind"] == "sqlite"
    host = next(h for h in status["hosts"] if h["port"] == fed.hub_port)
    assert host["live"] and host["workers"] == 2 and host["version"] == status["version"]
    jobs = {job["name"]: job for job in status["jobs"]}
    assert {"deliveries", "escalation", "monthly-cycle"} <= set(jobs)
    assert jobs["deliveries"]["last_outcome"] == "ok" and jobs["deliveries"]["next_run_at"]

    text = subprocess.run([*LIANFU, "hub", "status"], cwd=ROOT, env=fed.hub_env, capture_output=True, text=True,
                          timeout=120)
    assert text.returncode == 0, text.stderr
    assert f":{fed.hub_port}" in text.stdout and "live" in text.stdout and "up to date" in text.stdout
    assert "deliveries" in text.stdout
