"""Several hub hosts are one hub: two `lianfu hub serve` processes, each with its own data dir, on one PostgreSQL,
behind a real nginx that sends requests to them in turn.

As it runs in production: a private PostgreSQL (tests/pgserver.py), `lianfu hub migrate` twice at once on the empty
database (both succeed: the second waits for the advisory lock, then has nothing to do), the demo seeded, the two
hosts sharing LIANFU_SECRET_KEY and nothing else. Requests are also aimed at host A and host B by name, so what
crosses from one to the other does not depend on nginx's turn: a login form from A posted to B, a form of the
session made on A acted on through B, a file uploaded through A downloaded through B, an authorization code from A
redeemed on B and its tokens used on both, a service token from A introspected on B. Then a sub-center spoke enrols
through nginx and syncs several rounds through it, a file made at the spoke among what it sends.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.pool import NullPool

from tests.live_hub import LIANFU, ROOT, _healthy, _stop, _tail, free_port
from tests.pgserver import PostgresServer, find_pg_bin

NGINX = "/usr/sbin/nginx"
NODE = "sc-shanghai"
PASSWORD = "lianfu-demo"
REDIRECT = "https://rp.example/callback"
HTML = {"Accept": "text/html"}
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')

pytestmark = pytest.mark.postgresql


@dataclass
class Hub:
    """The two hosts, the balancer in front of them and the database behind them."""

    root: Path
    db_url: str
    env: dict[str, str]
    hosts: dict[str, str] = field(default_factory=dict)  # name -> http://127.0.0.1:port
    balancer: str = ""
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def run(self, *args: str, data_dir: str = "a", check: bool = True, input_text: str | None = None
            ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*LIANFU, "hub", *args], cwd=ROOT, env=self.host_env(data_dir), capture_output=True,
                              text=True, timeout=300, input=input_text)
        if check:
            assert done.returncode == 0, f"lianfu hub {' '.join(args)}: {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done

    def host_env(self, name: str) -> dict[str, str]:
        return {**self.env, "LIANFU_DATA_DIR": str(self.root / f"host-{name}")}

    def start(self, name: str, args: list[str], env: dict[str, str], health: str) -> None:
        log_path = self.root / f"{name}.log"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(args, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT)
        self.processes[name] = process
        deadline = time.monotonic() + 90
        while not _healthy(health):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{name} did not come up:\n{_tail(log_path)}")
            time.sleep(0.2)

    def sql(self, statement: str, **params: Any) -> list[Any]:
        engine = create_engine(self.db_url, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                return list(conn.execute(text(statement), params))
        finally:
            engine.dispose()


def nginx_conf(prefix: Path, port: int, upstreams: list[str]) -> str:
    servers = "\n".join(f"        server {address};" for address in upstreams)
    # As root, nginx's workers would become `nobody` and could not write the temp dirs under the test's prefix.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""{user}daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 512; }}
http {{
    log_format upstreams '$request_method $uri $status $upstream_addr';
    access_log {prefix}/access.log upstreams;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    client_max_body_size 64m;
    upstream lianfu_hub {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://lianfu_hub;
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            # A refused request is the answer, never retried on the other host behind the test's back.
            proxy_next_upstream off;
            proxy_buffering off;
            proxy_read_timeout 300s;
            add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
"""


@pytest.fixture(scope="module")
def hub() -> Iterator[Hub]:
    if find_pg_bin() is None:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not found")
    if not os.access(NGINX, os.X_OK):
        pytest.skip("nginx is not installed")
    root = Path(tempfile.mkdtemp(prefix="lianfu-multihost-"))
    root.chmod(0o755)
    pg = PostgresServer(root)
    pg.start()
    made = None
    try:
        db_url = pg.create_database("lianfu_multihost")
        balancer_port = free_port()
        balancer = f"http://127.0.0.1:{balancer_port}"
        env = {key: value for key, value in os.environ.items() if not key.startswith("LIANFU_")}
        env.update({"LIANFU_DB": db_url, "LIANFU_SECRET_KEY": secrets.token_urlsafe(48), "LIANFU_BASE_URL": balancer,
                    "LIANFU_COOKIE_SECURE": "0", "LIANFU_TRUSTED_PROXIES": "127.0.0.1", "PYTHONUNBUFFERED": "1",
                    "PYTHONDONTWRITEBYTECODE": "1"})
        made = Hub(root, db_url, env, balancer=balancer)
        yield made
    finally:
        if made is not None:
            for process in made.processes.values():
                _stop(process)
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


def _served(hub: Hub) -> None:
    """Migrated twice at once, seeded, two hosts and nginx running (once per module)."""
    if hub.processes:
        return
    runs = [subprocess.Popen([*LIANFU, "hub", "migrate"], cwd=ROOT, env=hub.host_env(name), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for name in ("a", "b")]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert all("newest revision" in out for out, _err in outputs), outputs
    assert hub.sql("SELECT count(*) FROM node WHERE id = 'hub'")[0][0] == 1
    hub.run("seed-demo", "--enterprises", "20")
    for name in ("a", "b"):
        port = free_port()
        hub.hosts[name] = f"http://127.0.0.1:{port}"
        hub.start(f"host-{name}", [*LIANFU, "hub", "serve", "--host", "127.0.0.1", "--port", str(port)],
                  hub.host_env(name), f"{hub.hosts[name]}/healthz")
    prefix = hub.root / "nginx"
    for sub in ("", "client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    port = int(hub.balancer.rsplit(":", 1)[1])
    conf.write_text(nginx_conf(prefix, port, [url.split("//", 1)[1] for url in hub.hosts.values()]))
    checked = subprocess.run([NGINX, "-t", "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    hub.start("nginx", [NGINX, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")], hub.env,
              f"{hub.balancer}/healthz")


@pytest.fixture(scope="module")
def served(hub: Hub) -> Hub:
    _served(hub)
    return hub


def csrf_of(page: httpx.Response) -> str:
    match = CSRF_FIELD.search(page.text)
    assert match, page.text[:2000]
    return match.group(1)


def log_in(client: httpx.Client, form_from: str, post_to: str, username: str = "office") -> None:
    page = client.get(f"{form_from}/login", headers=HTML)
    assert page.status_code == 200
    answer = client.post(f"{post_to}/login", headers=HTML, follow_redirects=False,
                         data={"username": username, "password": PASSWORD, "csrf_token": csrf_of(page)})
    assert answer.status_code in (302, 303), answer.text[:2000]


def a_case(hub: Hub) -> str:
    return str(hub.sql("SELECT id FROM case_record ORDER BY created_at LIMIT 1")[0][0])


# --- a person's session, forms and files, across hosts --------------------------------------------------------------

def test_two_migrations_at_once_both_succeed_and_the_schema_is_made_once(served: Hub) -> None:
    assert served.sql("SELECT count(*) FROM alembic_version")[0][0] == 1
    (again,) = [served.run("migrate", data_dir="b")]
    assert "newest revision" in again.stdout


def test_a_login_form_from_one_host_is_accepted_by_the_other_and_the_session_acts_on_both(served: Hub) -> None:
    a, b = served.hosts["a"], served.hosts["b"]
    with httpx.Client(timeout=60) as person:
        log_in(person, a, b)  # the CSRF token of A's form, checked by B
        case_id = a_case(served)
        page = person.get(f"{a}/cases/{case_id}", headers=HTML)
        assert page.status_code == 200
        note = f"经B主机提交的意见 {secrets.token_hex(4)}"
        acted = person.post(f"{b}/cases/{case_id}/events", headers=HTML, follow_redirects=False,
                            data={"kind": "comment", "note": note, "csrf_token": csrf_of(page)})
        assert acted.status_code in (302, 303), acted.text[:2000]
        assert note in person.get(f"{a}/cases/{case_id}", headers=HTML).text
        # A token earned in no session of ours is refused on either host, and nothing is written.
        refused = person.post(f"{a}/cases/{case_id}/events", headers=HTML, follow_redirects=False,
                              data={"kind": "comment", "note": "伪造", "csrf_token": "0" * 64})
        assert refused.status_code == 403
        assert served.sql("SELECT count(*) FROM case_event WHERE note = '伪造'")[0][0] == 0


def test_a_file_uploaded_through_one_host_downloads_through_the_other(served: Hub) -> None:
    a, b = served.hosts["a"], served.hosts["b"]
    content = b"%PDF-1.4\n" + secrets.token_bytes(3 * 1024 * 1024)  # several pieces in the database
    sha = hashlib.sha256(content).hexdigest()
    with httpx.Client(timeout=120) as person:
        log_in(person, a, a)
        case_id = a_case(served)
        page = person.get(f"{a}/cases/{case_id}", headers=HTML)
        sent = person.post(f"{a}/cases/{case_id}/events", headers=HTML, follow_redirects=False,
                           data={"kind": "comment", "note": "附件", "csrf_token": csrf_of(page)},
                           files={"files": ("协作函.pdf", content, "application/pdf")})
        assert sent.status_code in (302, 303), sent.text[:2000]
        (attachment_id,) = [row[0] for row in served.sql("SELECT id FROM attachment WHERE sha256 = :sha", sha=sha)]
        # The bytes are in the database, not in host A's data dir.
        assert served.sql("SELECT size FROM hub_blob WHERE sha256 = :sha", sha=sha)[0][0] == len(content)
        assert not any((served.root / "host-a").rglob(sha))
        got = person.get(f"{b}/attachments/{attachment_id}")
        assert got.status_code == 200 and got.content == content
        assert got.headers["content-disposition"].startswith("attachment")


# --- tokens signed by one host, accepted by the other ---------------------------------------------------------------

def test_a_code_from_one_host_is_redeemed_on_the_other_and_its_tokens_work_on_both(served: Hub) -> None:
    a, b = served.hosts["a"], served.hosts["b"]
    made = json.loads(served.run("client", "create", "portal", "--grant", "authorization_code", "--redirect-uri",
                                 REDIRECT, "--first-party").stdout)
    verifier = secrets.token_urlsafe(48)
    challenge = hashlib.sha256(verifier.encode()).digest()
    import base64

    query = {"response_type": "code", "client_id": made["client_id"], "redirect_uri": REDIRECT,
             "scope": "openid profile enterprises:read", "state": "s1", "nonce": "n1",
             "code_challenge": base64.urlsafe_b64encode(challenge).rstrip(b"=").decode(),
             "code_challenge_method": "S256"}
    with httpx.Client(timeout=60) as person:
        log_in(person, a, a)
        answer = person.get(f"{a}/oauth/authorize?{urlencode(query)}", follow_redirects=False)
        assert answer.status_code == 302, answer.text[:2000]
        code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    token = httpx.post(f"{b}/oauth/token", auth=(made["client_id"], made["client_secret"]), timeout=60,
                       data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                             "code_verifier": verifier})
    assert token.status_code == 200, token.text
    tokens = token.json()
    assert tokens["id_token"] and tokens["refresh_token"]
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    for host in (a, b):
        info = httpx.get(f"{host}/oauth/userinfo", headers=bearer, timeout=60)
        assert info.status_code == 200 and info.json()["preferred_username"] == "office", info.text
        listed = httpx.get(f"{host}/api/v1/enterprises", headers=bearer, timeout=60)
        assert listed.status_code == 200, listed.text
    # A refresh on A of what B issued.
    refreshed = httpx.post(f"{a}/oauth/token", auth=(made["client_id"], made["client_secret"]), timeout=60,
                           data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    renewed = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
    assert httpx.get(f"{b}/oauth/userinfo", headers=renewed, timeout=60).status_code == 200
    # The code redeemed on B, replayed on A: refused, and what it gave is revoked on both hosts.
    again = httpx.post(f"{a}/oauth/token", auth=(made["client_id"], made["client_secret"]), timeout=60,
                       data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                             "code_verifier": verifier})
    assert again.status_code == 400
    for host in (a, b):
        assert httpx.get(f"{host}/oauth/userinfo", headers=renewed, timeout=60).status_code == 401


def test_a_service_token_from_one_host_is_active_on_the_other(served: Hub) -> None:
    a, b = served.hosts["a"], served.hosts["b"]
    made = json.loads(served.run("client", "create", "reports-bot", "--grant", "client_credentials").stdout)
    auth = (made["client_id"], made["client_secret"])
    issued = httpx.post(f"{a}/oauth/token", auth=auth, data={"grant_type": "client_credentials"}, timeout=60)
    assert issued.status_code == 200, issued.text
    looked = httpx.post(f"{b}/oauth/introspect", auth=auth, data={"token": issued.json()["access_token"]}, timeout=60)
    assert looked.status_code == 200 and looked.json()["active"] is True, looked.text
    keys_a = httpx.get(f"{a}/oauth/jwks", timeout=60).json()
    keys_b = httpx.get(f"{b}/oauth/jwks", timeout=60).json()
    assert keys_a == keys_b and keys_a["keys"]


# --- through the balancer -------------------------------------------------------------------------------------------

def test_the_balancer_sends_requests_to_both_hosts_and_a_person_works_through_it(served: Hub) -> None:
    seen = set()
    with httpx.Client(base_url=served.balancer, timeout=60) as person:
        log_in(person, served.balancer, served.balancer)
        case_id = a_case(served)
        for _ in range(6):
            page = person.get(f"/cases/{case_id}", headers=HTML)
            assert page.status_code == 200
            seen.add(page.headers["x-upstream"])
            acted = person.post(f"/cases/{case_id}/events", headers=HTML, follow_redirects=False,
                                data={"kind": "comment", "note": "经负载均衡", "csrf_token": csrf_of(page)})
            assert acted.status_code in (302, 303), acted.text[:2000]
            seen.add(acted.headers["x-upstream"])
    assert seen == {url.split("//", 1)[1] for url in served.hosts.values()}


@dataclass
class Spoke:
    data_dir: Path
    env: dict[str, str]

    def sync_round(self) -> None:
        run = subprocess.run([*LIANFU, "sync", "--once", "--data-dir", str(self.data_dir)], cwd=ROOT, env=self.env,
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stdout + run.stderr


@pytest.fixture(scope="module")
def spoke(served: Hub) -> Spoke:
    """sc-shanghai enrolled through the balancer, its scope brought down by a first round (once per module)."""
    spoke_dir = served.root / NODE
    env = {key: value for key, value in served.env.items() if key not in ("LIANFU_DB", "LIANFU_SECRET_KEY",
                                                                            "LIANFU_BASE_URL")}
    env.update({"LIANFU_DATA_DIR": str(spoke_dir), "LIANFU_INTROSPECTION_CACHE": "0"})
    code = served.run("enrollment-code", NODE).stdout.split()[0]
    enrolled = subprocess.run([*LIANFU, "spoke", "enroll", "--hub", served.balancer, "--code", code, "--url",
                               f"http://127.0.0.1:{free_port()}"], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=300)
    assert enrolled.returncode == 0, enrolled.stdout + enrolled.stderr
    made = Spoke(spoke_dir, env)
    made.sync_round()  # the scope comes down
    return made


def test_a_spoke_enrols_and_syncs_through_the_balancer_with_a_file(served: Hub, spoke: Spoke) -> None:
    from common.attachments.blobs import BlobStore
    from common.attachments.service import add_attachment
    from common.models import Enterprise, User
    from common.policy import load_principal
    from sync.capture import spoke_database

    spoke_dir, spoke_env, sync_round = spoke.data_dir, spoke.env, spoke.sync_round
    photo = b"\x89PNG\r\n\x1a\n" + secrets.token_bytes(2 * 1024 * 1024 + 100)  # sent in several chunks
    db = spoke_database(f"sqlite:///{spoke_dir / 'lianfu.db'}", NODE)
    try:
        with db.reads() as session:
            principal = load_principal(session, session.scalars(select(User).where(User.username == "subcenter_sh"))
                                       .one())
            owner = session.scalars(select(Enterprise.id).order_by(Enterprise.id).limit(1)).one()
        with db.transaction(actor=principal) as session:
            attached = add_attachment(session, principal, BlobStore(spoke_dir / "blobs"), "enterprise", owner,
                                      "现场照片.png", "image/png", photo)
            sha, attachment_id = attached.sha256, str(attached.id)
    finally:
        db.dispose()
    for _round in range(4):  # the row and its file go up; the next rounds find nothing amiss
        sync_round()
    status = subprocess.run([*LIANFU, "sync", "status", "--json", "--data-dir", str(spoke_dir)], cwd=ROOT,
                            env=spoke_env, capture_output=True, text=True, timeout=120)
    state = json.loads(status.stdout)
    assert state["last_error"] is None and state["queued"] == 0, state
    assert served.sql("SELECT size FROM hub_blob WHERE sha256 = :sha", sha=sha)[0][0] == len(photo)
    with httpx.Client(timeout=60) as person:
        log_in(person, served.hosts["b"], served.hosts["a"])
        for host in served.hosts.values():
            got = person.get(f"{host}/attachments/{attachment_id}")
            assert got.status_code == 200 and got.content == photo
    errors = [line for line in (_tail(served.root / f"host-{name}.log", 200_000) for name in ("a", "b"))
              if "Traceback" in line]
    assert not errors, errors[0][-4000:]
    # The spoke's rounds were shared out between the two hosts by nginx, and none was refused.
    sync_lines = [line.split() for line in (served.root / "nginx" / "access.log").read_text().splitlines()
                  if " /api/v1/sync/" in line]
    assert {parts[3] for parts in sync_lines} == {url.split("//", 1)[1] for url in served.hosts.values()}
    assert all(parts[2].startswith("2") for parts in sync_lines), sync_lines


def test_an_upload_begun_on_one_host_resumes_and_completes_on_the_other(served: Hub, spoke: Spoke) -> None:
    """The spoke's resumable upload, aimed at each host in turn: the half that reached A is what B resumes from."""
    import uuid

    from common.db import Database
    from common.migrate import head_and_previous
    from common.models import Attachment
    from sync.hub_link import HubLink, SpokeConfig
    from sync.wire import PROTOCOL, PROTOCOL_HEADER, SCHEMA_HEADER

    config = SpokeConfig.load(spoke.data_dir)
    assert config is not None
    content = b"%PDF-1.4\n" + secrets.token_bytes(1024 * 1024 + 77)
    sha = hashlib.sha256(content).hexdigest()
    hub_db = Database.connect(served.db_url)
    try:
        with hub_db.transaction() as session:
            owner = session.scalar(select(text("id")).select_from(text("enterprise"))
                                   .where(text("node_id = :node")).params(node=NODE).limit(1))
            assert owner is not None
            session.add(Attachment(node_id=NODE, sha256=sha, size=len(content), content_type="application/pdf",
                                   filename="续传.pdf", entity_type="enterprise", entity_id=uuid.UUID(str(owner))))
    finally:
        hub_db.dispose()
    link = HubLink(spoke.data_dir, config)
    try:
        token = link.node_token()
    finally:
        link.close()
    headers = {PROTOCOL_HEADER: str(PROTOCOL), SCHEMA_HEADER: head_and_previous()[0],
               "Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"}
    a, b = served.hosts["a"], served.hosts["b"]
    path = f"/api/v1/sync/blobs/{sha}"
    half = len(content) // 2
    first = httpx.put(f"{a}{path}", content=content[:half], headers={**headers, "Upload-Offset": "0"}, timeout=60)
    assert first.status_code == 200 and first.json() == {"offset": half, "complete": False}, first.text
    asked = httpx.head(f"{b}{path}", headers=headers, timeout=60)
    assert asked.headers["Upload-Offset"] == str(half) and asked.headers["Blob-Complete"] == "0"
    # The same half again, now on B: refused, told where to resume.
    repeated = httpx.put(f"{b}{path}", content=content[:half], headers={**headers, "Upload-Offset": "0"}, timeout=60)
    assert repeated.status_code == 409 and repeated.headers["Upload-Offset"] == str(half)
    rest = httpx.put(f"{b}{path}", content=content[half:], timeout=60,
                     headers={**headers, "Upload-Offset": str(half), "Upload-Complete": "1"})
    assert rest.status_code == 200 and rest.json() == {"offset": len(content), "complete": True}, rest.text
    got = httpx.get(f"{a}{path}", headers=headers, timeout=60)
    assert got.status_code == 200 and got.content == content
    ranged = httpx.get(f"{b}{path}", headers={**headers, "Range": f"bytes={half}-"}, timeout=60)
    assert ranged.status_code == 206 and ranged.content == content[half:]
