"""`lianfu hub client | keys | totp`: the OAuth clients, the token-signing keys and accounts' second factor."""
from __future__ import annotations

import sys

import click

from hub.cli_support import _fail, _settings, hub_transaction


@click.group("client")
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


@click.group("keys")
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


@click.group("totp")
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
