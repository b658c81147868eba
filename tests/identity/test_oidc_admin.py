"""The office's page of connected applications: listed with their last use; disable and revoke bite at once."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from common.db import Database
from common.models import AuditEntry
from oidc_support import register, token_post


def _service_token(client: Any, http_owner: Any) -> Any:
    return token_post(http_owner, client, {"grant_type": "client_credentials", "scope": "enterprises:read"})


def test_office_lists_disables_and_revokes_clients(clients: Any, db: Database, world: dict[str, Any]) -> None:
    service = register(db, "统计对接", grant="client_credentials", scope="enterprises:read")
    anonymous = clients()
    issued = _service_token(service, anonymous)
    assert issued.status_code == 200, issued.text
    access = issued.json()["access_token"]
    assert anonymous.get("/healthz", headers={"Authorization": f"Bearer {access}"}).status_code == 200

    office = clients("office")
    page = office.get("/oauth/clients", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "统计对接" in page.text and service["client_id"] in page.text
    assert "从未使用" not in page.text.split(service["client_id"])[1].split("</tr>")[0]  # it has been used

    revoked = office.post(f"/oauth/clients/{service['client_id']}/revoke", data={"csrf_token": office.csrf},
                          follow_redirects=False)
    assert revoked.status_code == 303
    refused = anonymous.get("/api/v1/enterprises", headers={"Authorization": f"Bearer {access}"})
    assert refused.status_code == 401

    office.post(f"/oauth/clients/{service['client_id']}/disable", data={"csrf_token": office.csrf})
    assert _service_token(service, anonymous).status_code in (400, 401)
    office.post(f"/oauth/clients/{service['client_id']}/enable", data={"csrf_token": office.csrf})
    assert _service_token(service, anonymous).status_code == 200
    with db.reads() as session:
        actions = set(session.scalars(select(AuditEntry.action).where(AuditEntry.entity_id == service["client_id"])))
    assert {"client.revoke", "client.disable", "client.enable"} <= actions


def test_only_the_office_sees_the_clients_page(clients: Any, db: Database, world: dict[str, Any]) -> None:
    service = register(db, "对接", grant="client_credentials", scope="enterprises:read")
    for username in ("subcenter_sh", "liaison_xz", "workstation_1"):
        person = clients(username)
        assert person.get("/oauth/clients", headers={"Accept": "text/html"}).status_code == 403
        response = person.post(f"/oauth/clients/{service['client_id']}/disable", data={"csrf_token": person.csrf})
        assert response.status_code == 403
    assert clients().get("/oauth/clients", headers={"Accept": "text/html"}, follow_redirects=False).status_code in (302, 303)
    without_token = clients("office").post(f"/oauth/clients/{service['client_id']}/disable", data={},
                                           headers={"X-CSRF-Token": ""})
    assert without_token.status_code == 403
