"""Enrollment: a fresh data dir and a one-time code become an approved node's spoke."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx

from common.bootstrap import prepare_database
from sync.capture import spoke_database
from common.settings import Settings
from sync.directory import apply_directory
from sync.cli import round_summary
from sync.client import SpokeSync
from sync.client.result import Progress
from sync.hub_link import CONFIG_FILE, KEY_FILE, HubLink, HubRefused, HubUnreachable, SpokeConfig, new_client_key


class EnrollError(Exception):
    """Enrollment did not happen; the message says why in one line."""


def enroll(settings: Settings, hub_url: str, code: str, transport: httpx.BaseTransport | None = None,
           progress: Progress | None = None, first_sync: bool = True) -> dict[str, Any]:
    """Make the key pair, register it with the code, prepare the database, take the node's directory and run the
    first full sync (its rows, as every later round keeps them; `progress` hears of it as a round's pages do).

    Nothing is left behind when the hub refuses: the data dir can be enrolled again with a new code. A first sync
    that does not complete leaves the spoke enrolled: the summary says so, and the scheduled rounds carry on. Without
    `first_sync` the spoke's first scheduled round is its first sync.
    """
    data_dir = settings.data_dir
    if (data_dir / CONFIG_FILE).exists():
        raise EnrollError(f"{data_dir} is already an enrolled spoke; use a fresh data dir")
    hub_url = hub_url.rstrip("/")
    jwks = new_client_key(data_dir)
    try:
        with httpx.Client(base_url=hub_url, timeout=30, transport=transport) as client:
            response = client.post("/api/v1/sync/enroll", json={"code": code.strip(), "jwks": jwks,
                                                                "base_url": settings.base_url or None})
    except httpx.HTTPError as exc:
        _forget_key(data_dir)
        raise EnrollError(f"the hub at {hub_url} could not be reached: {exc}") from exc
    body = _body(response)
    if response.status_code != 201:
        _forget_key(data_dir)
        detail = body.get("detail") or body.get("title") if isinstance(body, dict) else str(body)[:200]
        errors = body.get("errors") if isinstance(body, dict) else None
        if errors:
            detail = "; ".join(str(e.get("message")) for e in errors)
        raise EnrollError(f"the hub refused the enrollment ({response.status_code}): {detail}")
    config = SpokeConfig(hub_url=hub_url, issuer=body["issuer"], node_id=body["node"], node_name=body["node_name"],
                         client_id=body["client_id"], protocol=int(body.get("protocol", 1)))
    settings = settings.with_overrides(node_id=config.node_id)
    prepare_database(settings)
    db = spoke_database(settings.database_url, config.node_id)
    try:
        with db.transaction() as session:
            apply_directory(session, {"nodes": body["nodes"], "users": []}, config.node_id)
        config.save(data_dir)
        link = HubLink(data_dir, config, transport=transport)
        summary: dict[str, Any] = {"node": config.node_id, "node_name": config.node_name, "client_id": config.client_id,
                                   "hub": hub_url, "data_dir": str(data_dir)}
        try:
            try:
                link.metadata(refresh=True)
                link.jwks(refresh=True)
                with db.transaction() as session:
                    counts = apply_directory(session, link.call("GET", "/api/v1/sync/directory"), config.node_id)
                summary["accounts"] = counts["users"]
            except (HubUnreachable, HubRefused) as exc:
                # Enrolled all the same: the first scheduled round fetches what is missing.
                summary["warning"] = f"the directory could not be fetched yet: {exc}"
                return summary
            if not first_sync:
                return summary
            engine = SpokeSync.for_settings(db, settings, link, progress)
            result = engine.round()
            if engine.checkpointing is not None:
                engine.checkpointing.join()  # the command ends next: the round's writes folded back first
            summary["first_sync"] = round_summary(result)
            if not result.ok:
                summary["warning"] = (f"enrolled, but the first sync did not complete: {result.error}; the scheduled "
                                      "rounds carry on (or run `lianfu sync`)")
        finally:
            link.close()
        return summary
    finally:
        db.dispose()


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return {"detail": response.text[:200]}


def _forget_key(data_dir: Path) -> None:
    key = data_dir / KEY_FILE
    key.unlink(missing_ok=True)
    if key.parent.exists() and not any(key.parent.iterdir()):
        shutil.rmtree(key.parent, ignore_errors=True)
