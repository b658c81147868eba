"""`lianfu hub audit`: the audit trail checked against its signed checkpoints, and a checkpoint kept away."""
from __future__ import annotations

import sys

import click

from hub.cli_support import _database, _fail, _settings, hub_transaction


@click.group("audit")
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
