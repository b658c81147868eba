"""`lianfu hub …`: serve, migrate, accounts and their TOTP, demo data, enrollment codes, clients, keys, audit."""
from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from typing import Iterator

import click
from sqlalchemy.orm import Session

from common.settings import load_settings


def _settings(db: str | None = None, **overrides: object):  # noqa: ANN202
    return load_settings("hub", db_url=db, **overrides)


def _database(settings, audit_key: bytes | None = None):  # noqa: ANN001, ANN202
    from common.db import Database

    return Database.connect(settings.database_url, audit_key=audit_key)


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


@contextmanager
def hub_transaction(settings) -> Iterator[Session]:  # noqa: ANN001
    """Migrate, then one write transaction on the hub database, closed whatever happens. Its audit entries are
    linked with the hub's audit key, as the app's are (the secret key as the app finds it)."""
    from common.audit.trail import chain_key
    from common.settings import ensure_secret_key

    settings = ensure_secret_key(settings)  # refused before anything is written (a production hub's shared key)
    prepare(settings)
    database = _database(settings, chain_key(settings.secret_key))
    try:
        with database.transaction() as session:
            yield session
    finally:
        database.dispose()


def prepare(settings) -> None:  # noqa: ANN001
    from common.bootstrap import prepare_database

    prepare_database(settings)


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


@hub.group("audit")
def audit_group() -> None:
    """The audit trail."""


def _secret_key(settings) -> str:  # noqa: ANN001
    """The hub's secret key as the app finds it (LIANFU_SECRET_KEY, else the data dir's file), never made here: a
    verifier with a new random key would call every keyed entry forged."""
    if settings.secret_key:
        return settings.secret_key
    key_file = settings.data_dir / "secret_key"
    return key_file.read_text().strip() if key_file.is_file() else ""


@audit_group.command("verify")
@click.option("--db", help="Database URL.")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="The hub's data directory, for its secret key when LIANFU_SECRET_KEY is not set [var/hub].")
@click.option("--witness", "witnesses", multiple=True, type=click.Path(exists=True),
              help="A spoke's data directory or an exported checkpoint file (repeatable).")
def audit_verify(db: str | None, data_dir: str | None, witnesses: tuple[str, ...]) -> None:
    """Check every node's chain (the hub's keyed links with its secret key) and hold it against the signed
    checkpoints: the database's own and the witnesses'. Exit 1 naming the first break."""
    from dataclasses import replace
    from pathlib import Path

    from common.audit.trail import chain_key
    from hub.audit_checkpoints import check, read_witness

    settings = _settings(db, data_dir=data_dir)
    settings = replace(settings, secret_key=_secret_key(settings))
    key = chain_key(settings.secret_key) if settings.secret_key else None
    read = []
    for path in witnesses:
        try:
            read.extend(read_witness(Path(path)))
        except (OSError, UnicodeError) as exc:
            _fail(f"cannot read the witness {path}: {exc}")
    database = _database(settings, key)
    try:
        with database.reads() as session:
            report = check(session, settings if key else None, key, read)
    finally:
        database.dispose()
    for kid in report.refused_keys:
        click.echo(f"signing key {kid} is not sealed under the hub's secret key: its signatures are not trusted", err=True)
    for problem in report.untrusted:
        click.echo(f"checkpoint not trusted: {problem}", err=True)
    if report.breaks:
        first = report.breaks[0]
        click.echo(f"audit chain broken at node {first.node_id}, entry {first.seq} (id {first.entry_id or '-'}): "
                   f"{first.reason}", err=True)
        for extra in report.breaks[1:10]:
            click.echo(f"also broken at node {extra.node_id}, entry {extra.seq}: {extra.reason}", err=True)
        if len(report.breaks) > 10:
            click.echo(f"and {len(report.breaks) - 10} more", err=True)
        sys.exit(1)
    if report.tally.unchecked:
        click.echo(f"{report.tally.unchecked} entries are linked with the hub's audit key and were not checked: no "
                   f"secret key (set LIANFU_SECRET_KEY or --data-dir)", err=True)
        sys.exit(1)
    if report.untrusted:
        click.echo(f"audit chain intact against {report.checkpoints} trusted checkpoints, but "
                   f"{len(report.untrusted)} checkpoints could not be trusted", err=True)
        sys.exit(1)
    checkpoints = f"{report.checkpoints} signed checkpoint{'' if report.checkpoints == 1 else 's'}"
    click.echo(f"audit trail intact: {report.tally.entries} entries, {checkpoints} held against them")


@audit_group.command("checkpoint")
@click.option("--to", "target", type=click.Path(dir_okay=False), required=True,
              help="File to append the checkpoint to (one JSON line; give it to `verify --witness`).")
@click.option("--db", help="Database URL.")
def audit_checkpoint(target: str, db: str | None) -> None:
    """Sign where the hub's audit chain stands now and append it to FILE, to keep away from the hub."""
    import json
    from pathlib import Path

    from common.models import utcnow
    from common.settings import ensure_secret_key
    from hub.audit_checkpoints import issue

    settings = ensure_secret_key(_settings(db))
    with hub_transaction(settings) as session:
        row = issue(session, settings)
        if row is None:
            _fail("the hub's audit chain has no entry yet")
        line = json.dumps({"received_at": utcnow().isoformat(), "jws": row.jws}, separators=(",", ":"))
        seq = row.seq
    with open(Path(target), "a", encoding="utf-8") as out:
        out.write(line + "\n")
    click.echo(f"checkpoint of the hub's chain at entry {seq} written to {target}")


@hub.group("client")
def client_group() -> None:
    """OAuth clients of the hub's identity provider."""


@client_group.command("create")
@click.argument("name")
@click.option("--grant", type=click.Choice(["authorization_code", "client_credentials"]), required=True)
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="Exact redirect URI (repeatable).")
@click.option("--post-logout-redirect-uri", "logout_uris", multiple=True, help="Where RP-initiated logout may return.")
@click.option("--scope", default=None, help="Space-separated scopes [a sensible default for the grant].")
@click.option("--public", is_flag=True, help="A public client (no secret; PKCE protects the code).")
@click.option("--node", default=None, help="The node this client acts for (a spoke).")
@click.option("--first-party", is_flag=True, help="One of our own applications: people are not asked to consent.")
@click.option("--jwks-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="The client's public JWK set: it authenticates with private_key_jwt instead of a secret.")
@click.option("--db", help="Database URL.")
def client_create(name: str, grant: str, redirect_uris: tuple[str, ...], logout_uris: tuple[str, ...], scope: str | None,
                  public: bool, node: str | None, first_party: bool, jwks_file: str | None, db: str | None) -> None:
    """Register an OAuth client; prints JSON with client_id (and client_secret, shown only this once)."""
    import json
    from pathlib import Path

    from common.audit import trail as audit
    from hub.oauth.clients import ClientError, create_client

    jwks = None
    if jwks_file:
        try:
            jwks = json.loads(Path(jwks_file).read_text())
        except ValueError as exc:
            _fail(f"{jwks_file} is not JSON: {exc}")
        if isinstance(jwks, dict) and "keys" not in jwks:
            jwks = {"keys": [jwks]}
    try:
        with hub_transaction(_settings(db)) as session:
            made = create_client(session, name, grant, list(redirect_uris), scope, public, node, first_party, jwks,
                                 list(logout_uris) or None)
            audit.record(session, "hub", "oauth.client_created", actor="cli", entity_type="oauth_client",
                         entity_id=made.client_id, detail={"name": name, "grant": grant, "node": node,
                                                           "method": made.row.token_endpoint_auth_method})
    except ClientError as exc:
        _fail(str(exc))
    out = {"client_id": made.client_id, "token_endpoint_auth_method": made.row.token_endpoint_auth_method,
           "grant_types": made.row.grant_types, "scope": made.row.scope, "redirect_uris": made.row.redirect_uris}
    if made.client_secret:
        out["client_secret"] = made.client_secret
    click.echo(json.dumps(out, ensure_ascii=False, indent=2))


@hub.group("keys")
def keys_group() -> None:
    """The hub's token signing keys."""


@keys_group.command("rotate")
@click.option("--db", help="Database URL.")
def keys_rotate(db: str | None) -> None:
    """Make a new active signing key; the old one stays published until its tokens have expired."""
    from common.audit import trail as audit
    from common.settings import ensure_secret_key
    from hub.oauth import keys

    settings = ensure_secret_key(_settings(db))
    with hub_transaction(settings) as session:
        row, retired = keys.rotate(session, settings)
        audit.record(session, "hub", "oauth.keys_rotated", actor="cli", entity_type="signing_key", entity_id=row.kid,
                     detail={"retired": retired})
    click.echo(f"active signing key: {row.kid}")
    if retired:
        click.echo(f"retired (published until their tokens expire): {', '.join(retired)}")


@hub.group("totp")
def totp_group() -> None:
    """TOTP second factor of office and leader accounts."""


def _account(session, username: str):  # noqa: ANN001, ANN202
    from sqlalchemy import select

    from common.models import User

    user = session.scalars(select(User).where(User.username == username, User.deleted_at.is_(None))).first()
    if user is None:
        _fail(f"no such user: {username}")
    return user


@totp_group.command("enable")
@click.argument("username")
@click.option("--qr/--no-qr", default=None, help="Draw the QR code in the terminal [when standard output is one].")
@click.option("--db", help="Database URL.")
def totp_enable(username: str, qr: bool | None, db: str | None) -> None:
    """Give an account a TOTP secret; prints the otpauth:// URI for the authenticator app, this once only."""
    from common.audit import trail as audit
    from common.identity import totp
    from common.models import utcnow
    from common.settings import ensure_secret_key

    settings = ensure_secret_key(_settings(db))
    with hub_transaction(settings) as session:
        user = _account(session, username)
        try:
            uri = totp.enable(session, settings.secret_key, user, utcnow())
        except totp.TotpError as exc:
            _fail(str(exc))
        audit.record(session, "hub", "totp.enabled", actor="cli", entity_type="user", entity_id=user.id,
                     detail={"username": username})
    click.echo(uri)
    if sys.stdout.isatty() if qr is None else qr:
        import segno

        segno.make(uri, error="m").terminal(compact=True)
    click.echo(f"scan it into the authenticator app now: the secret is stored encrypted and never shown again; "
               f"{username} needs a code at every login from now on", err=True)


@totp_group.command("disable")
@click.argument("username")
@click.option("--db", help="Database URL.")
def totp_disable(username: str, db: str | None) -> None:
    """Remove an account's TOTP (a lost phone): the password alone logs in again until it is enabled anew."""
    from common.audit import trail as audit
    from common.identity import totp

    settings = _settings(db)
    with hub_transaction(settings) as session:
        user = _account(session, username)
        if not totp.disable(session, user):
            _fail(f"{username} has no TOTP")
        audit.record(session, "hub", "totp.disabled", actor="cli", entity_type="user", entity_id=user.id,
                     detail={"username": username})
    click.echo(f"TOTP removed from {username}")


from hub.jobs_cli import jobs_group  # noqa: E402 - the group is defined above

hub.add_command(jobs_group)

from hub.status_cli import status_command  # noqa: E402 - the group is defined above

hub.add_command(status_command)

from hub.blobs_cli import blobs_group  # noqa: E402 - the group is defined in its own module

hub.add_command(blobs_group)


@hub.command("backup")
@click.option("--to", "target", type=click.Path(dir_okay=False), required=True, help="The backup file to write.")
@click.option("--db", help="Database URL (default: SQLite in the data dir).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None, help="Data directory [var/hub].")
def backup_command(target: str, db: str | None, data_dir: str | None) -> None:
    """Everything the hub needs in one file: its database (pg_dump of the server's version, or SQLite's online
    backup), its secret key file and its files on disk. Written whole or not at all, readable by its owner only."""
    from pathlib import Path

    from common.backup import BackupError
    from hub.backup import backup_hub

    settings = _settings(db, data_dir=data_dir)
    path = Path(target)
    if path.is_dir():
        _fail(f"{target} is a directory; give a file name")
    started = time.monotonic()
    from common.cli import file_failure

    try:
        manifest = backup_hub(settings, path)
    except BackupError as exc:
        _fail(str(exc))
    except OSError as exc:
        if file_failure(exc):
            raise  # one line and exit 4, as for any path a command cannot use
        _fail(f"cannot write {target}: {exc.strerror or exc}")
    size = path.stat().st_size
    click.echo(f"backup written to {target}: {manifest.db} database at schema {manifest.schema}, "
               f"{len(manifest.parts)} parts, {size / 1024 / 1024:.1f} MB, {time.monotonic() - started:.1f} s")


@hub.command("restore")
@click.option("--from", "source", type=click.Path(dir_okay=False), required=True, help="The backup file to restore.")
@click.option("--db", help="Database URL (default: SQLite in the data dir).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None, help="Data directory [var/hub].")
@click.option("--yes", is_flag=True, help="Replace a database that is not empty.")
def restore_command(source: str, db: str | None, data_dir: str | None, yes: bool) -> None:
    """Put the hub back as the backup holds it (stop every hub process first): every part checked against its
    sha256 before anything is changed, the database replaced, the files put back, migrated to the newest schema. The
    spokes then send again what the hub lost of their scopes at their next sync; what was written at the hub alone
    after the backup is lost."""
    from pathlib import Path

    from common.backup import BackupError
    from hub.backup import restore_hub

    settings = _settings(db, data_dir=data_dir)
    started = time.monotonic()
    from common.cli import file_failure
    from common.settings import SettingsError

    try:
        restored = restore_hub(settings, Path(source), yes)
    except (BackupError, SettingsError) as exc:
        _fail(str(exc))
    except OSError as exc:
        if file_failure(exc):
            raise  # one line and exit 4, as for any path a command cannot use
        _fail(f"cannot restore from {source}: {exc.strerror or exc}")
    click.echo(f"hub restored from {source} (made {restored.manifest.created_at}, schema {restored.manifest.schema}, "
               f"{restored.files} files) in {time.monotonic() - started:.1f} s; new lineage {restored.lineage}: "
               f"spokes send again what the hub lost at their next sync")
