"""`lianfu hub …`: serve, migrate, accounts, demo data, enrollment codes here; the other commands in a module each."""
from __future__ import annotations

import os
import sys
import time

import click

from hub.audit_cli import audit_group
from hub.backup_cli import backup_command, restore_command
from hub.blobs_cli import blobs_group
from hub.cli_support import _fail, _settings, hub_transaction, prepare
from hub.identity_cli import client_group, keys_group, totp_group
from hub.jobs_cli import jobs_group
from hub.status_cli import status_command

__all__ = ["hub", "hub_transaction", "prepare"]


@click.group()
def hub() -> None:
    """The hub: the office's node."""


@hub.command()
@click.option("--db", help="Database URL (default: SQLite in the data dir).")
@click.option("--host", default=None, help="Address to listen on [127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port [8600].")
@click.option("--workers", type=int, default=1, show_default=True, help="Worker processes.")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None, help="Data directory [var/hub].")
def serve(db: str | None, host: str | None, port: int | None, workers: int, data_dir: str | None) -> None:
    """Run the hub (migrates first)."""
    import uvicorn

    settings = _settings(db, host=host, port=port, data_dir=data_dir)
    from common.ops.serving import prepare_serving
    from common.settings import SettingsError, check_hub_settings

    try:
        check_hub_settings(settings)
    except SettingsError as exc:
        _fail(str(exc))
    if workers < 1:
        _fail("--workers must be 1 or more")
    try:
        log_config = prepare_serving(settings.data_dir)
    except (ValueError, OSError) as exc:
        _fail(str(exc))
    prepare(settings)
    # Workers build the app from the environment: pass the resolved settings down that way, with what `hub status`
    # shows of this serving process (hub/hosts.py).
    from datetime import datetime, timezone

    os.environ.update({"LIANFU_DATA_DIR": str(settings.data_dir), "LIANFU_HOST": settings.host,
                       "LIANFU_PORT": str(settings.port), "LIANFU_SERVE_PID": str(os.getpid()),
                       "LIANFU_SERVE_WORKERS": str(workers),
                       "LIANFU_SERVE_STARTED": datetime.now(timezone.utc).isoformat()})
    if settings.db_url:
        os.environ["LIANFU_DB"] = settings.db_url
    from common.settings import ensure_secret_key

    ensure_secret_key(settings)
    uvicorn.run("hub.app:create_served_app", factory=True, host=settings.host, port=settings.port, workers=workers,
                log_level="info", log_config=log_config, timeout_graceful_shutdown=5,
                # Who the client is behind a proxy is the app's to decide (LIANFU_TRUSTED_PROXIES), not uvicorn's.
                proxy_headers=False)


@hub.command()
@click.option("--db", help="Database URL (default: SQLite in the data dir).")
def migrate(db: str | None) -> None:
    """Upgrade the hub database to the newest schema."""
    prepare(_settings(db))
    click.echo("database is at the newest revision")


@hub.command("create-user")
@click.argument("username")
@click.option("--role", type=click.Choice(["office", "liaison", "subcenter", "enterprise"]), required=True)
@click.option("--node", default=None, help="The user's node [hub].")
@click.option("--unit", default=None, help="Police unit of a liaison, e.g. criminal-investigation.")
@click.option("--leader", is_flag=True, help="Leader of the center (may approve a joint working group).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--setup-link", is_flag=True,
              help="Set no password: print a one-time link (on LIANFU_BASE_URL) where the person sets their own.")
@click.option("--db", help="Database URL.")
def create_user(username: str, role: str, node: str | None, unit: str | None, leader: bool, password_stdin: bool,
                setup_link: bool, db: str | None) -> None:
    """Add a user."""
    from sqlalchemy import select

    from common.audit import trail as audit
    from common.errors import InvalidField
    from common.i18n import translate
    from common.models import Node, Unit, User
    from common.identity import setup_links
    from common.identity.accounts import NO_PASSWORD
    from common.identity.passwords import check_password_policy, hash_password
    from common.models import utcnow
    from common.policy import Principal

    settings = _settings(db)
    node = node or "hub"
    if role == "liaison" and not unit:
        _fail("a liaison needs --unit")
    if role in ("office", "liaison") and node != "hub":
        _fail("office and liaison users belong to the hub node")
    if role in ("subcenter", "enterprise") and node == "hub":
        _fail(f"a {role} user needs --node (their sub-center or workstation)")
    if setup_link and password_stdin:
        _fail("choose one of --setup-link and --password-stdin")
    password = ""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif not setup_link:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not setup_link:
        try:
            check_password_policy(password, username)
        except InvalidField as exc:
            _fail(translate(exc.problems[0].message, "en"))
    with hub_transaction(settings) as session:
        if session.get(Node, node) is None:
            _fail(f"no such node: {node}")
        if unit and session.get(Unit, unit) is None:
            _fail(f"no such unit: {unit}")
        if session.scalars(select(User).where(User.username == username)).first():
            _fail(f"user {username} already exists")
        user = User(username=username, role=role, node_id=node, unit_id=unit, is_leader=leader,
                    password_hash=NO_PASSWORD if setup_link else hash_password(password))
        session.add(user)
        session.flush()
        audit.record(session, "hub", "create", actor="cli", entity_type="user", entity_id=user.id,
                     detail={"username": username, "role": role, "node": node, "unit": unit, "leader": leader})
        token = setup_links.issue(session, Principal(None, "cli", "office", "hub"), user, utcnow()) if setup_link else None
    click.echo(f"created {role} user {username} at node {node}")
    if token:
        click.echo(setup_links.setup_url(settings.base_url or "", token))


@hub.command("seed-demo")
@click.option("--db", help="Database URL.")
@click.option("--enterprises", type=int, default=300, show_default=True, help="How many enterprises to add.")
def seed_demo_command(db: str | None, enterprises: int) -> None:
    """Load demo nodes, accounts (password lianfu-demo) and a realistic roster."""
    from hub.seed import seed_demo

    if enterprises < 0:
        _fail("--enterprises must be zero or more")
    started = time.perf_counter()
    with hub_transaction(_settings(db)) as session:
        counts = seed_demo(session, enterprises)
    counts_text = ", ".join(f"{v} {k}" for k, v in counts.items())
    click.echo(f"seeded {counts_text} in {time.perf_counter() - started:.1f} s")


@hub.command("enrollment-code")
@click.argument("node")
@click.option("--db", help="Database URL.")
def enrollment_code(node: str, db: str | None) -> None:
    """Issue a one-time, expiring enrollment code for an approved node."""
    from common.audit import trail as audit
    from common.errors import Conflict, InvalidField
    from common.federation.service import ENROLLMENT_TTL, issue_enrollment_code

    try:
        with hub_transaction(_settings(db)) as session:
            code = issue_enrollment_code(session, node)
            audit.record(session, "hub", "enrollment-code", actor="cli", entity_type="node", entity_id=node)
    except (InvalidField, Conflict) as exc:
        _fail(f"cannot issue a code for {node}: {exc}")
    click.echo(code)
    click.echo(f"valid once, for {int(ENROLLMENT_TTL.total_seconds() // 3600)} hours", err=True)


for _command in (audit_group, client_group, keys_group, totp_group, jobs_group, status_command, blobs_group,
                 backup_command, restore_command):
    hub.add_command(_command)
