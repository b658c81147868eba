"""The office manages accounts at the hub: one-time setup links instead of passwords, disabling that ends sessions
and tokens at once, a person's own password and authenticator app, and a second factor the office may require."""
from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pyotp
import pytest
from sqlalchemy import select

from common.db import Database
from common.models import AuditEntry, User
from conftest import CSRF_RE, Client
from oidc_support import login_and_get_tokens, oauth_client, register

PASSWORD = "Neue-Passwort-2026"
NEW_LIAISON = {"username": "liaison_new", "name": "王敏", "role": "liaison", "node": "hub",
               "unit": "criminal-investigation", "phone": "13812345678", "email": "wangmin@example.cn"}


@pytest.fixture
def person(clients: Any) -> Iterator[Any]:
    """`person()` → a browser of its own on the same hub, logged in as nobody yet."""
    made: list[Client] = []

    def new() -> Client:
        base = clients()
        client = Client(base.http.app, beside=base)
        client.fetch_csrf()
        client.http.headers["X-CSRF-Token"] = client.csrf
        made.append(client)
        return client

    yield new
    for client in made:
        client.close()


def actions(db: Database, entity_id: Any = None) -> list[str]:
    with db.reads() as session:
        stmt = select(AuditEntry.action).order_by(AuditEntry.seq)
        if entity_id is not None:
            stmt = stmt.where(AuditEntry.entity_id == str(entity_id))
        return list(session.scalars(stmt))


def path_of(url: str) -> str:
    return urlsplit(url).path


def set_password(client: Client, setup_url: str, password: str = PASSWORD) -> Any:
    page = client.get(path_of(setup_url))
    assert page.status_code == 200, page.text
    csrf = CSRF_RE.search(page.text).group(1)  # type: ignore[union-attr]
    return client.post(path_of(setup_url), data={"password": password, "password_confirm": password,
                                                 "csrf_token": csrf}, follow_redirects=False)


def create(clients: Any, **changes: Any) -> dict[str, Any]:
    answer = clients("office").post("/api/v1/users", json={**NEW_LIAISON, **changes})
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_a_new_account_sets_its_password_by_the_link_and_logs_in(clients: Any, person: Any, db: Database) -> None:
    made = create(clients)
    assert made["setup_url"].startswith("https://testserver.local/setup/")
    assert made["phone"] == "138****5678" and made["unit"] == "criminal-investigation" and made["active"] is True
    assert made["has_password"] is False
    # No password works before the person sets one.
    assert person().login("liaison_new", "").status_code == 400

    newcomer = person()
    done = set_password(newcomer, made["setup_url"])
    assert done.status_code == 303 and done.headers["location"] == "/"
    assert newcomer.get("/api/v1/cases").status_code == 200  # logged in by the link
    assert person().login("liaison_new", PASSWORD).status_code == 303

    # Used twice: refused with a clear page, recorded as a security event.
    again = person().get(path_of(made["setup_url"]))
    assert again.status_code == 410 and "链接已使用或已过期" in again.text
    trail = actions(db, made["id"])
    assert trail[:3] == ["create", "account.setup_issued", "account.setup_used"]
    assert "security.setup_refused" in trail
    with db.reads() as session:
        assert session.scalars(select(User.email).where(User.username == "liaison_new")).one() == "wangmin@example.cn"


def test_a_link_posted_twice_sets_the_password_once(clients: Any, person: Any) -> None:
    made = create(clients)
    assert set_password(person(), made["setup_url"]).status_code == 303
    late = person()
    page = late.get("/login")
    csrf = CSRF_RE.search(page.text).group(1)  # type: ignore[union-attr]
    answer = late.post(path_of(made["setup_url"]), data={"password": "Another-pass-99", "password_confirm":
                                                         "Another-pass-99", "csrf_token": csrf})
    assert answer.status_code == 410
    assert person().login("liaison_new", "Another-pass-99").status_code == 400


def test_an_expired_link_is_refused(clients: Any, person: Any) -> None:
    made = create(clients)
    visitor = person()
    app = visitor.http.app
    real_clock = app.state.clock
    app.state.clock = lambda: real_clock() + timedelta(hours=73)
    try:
        assert visitor.get(path_of(made["setup_url"])).status_code == 410
    finally:
        app.state.clock = real_clock


def test_the_password_policy_holds_at_the_setup_page(clients: Any, person: Any) -> None:
    made = create(clients)
    answer = set_password(person(), made["setup_url"], "short1")
    assert answer.status_code == 422 and "至少" in answer.text
    # The link still works after a refused password.
    assert set_password(person(), made["setup_url"]).status_code == 303


def test_reset_ends_the_old_password_links_and_sessions(clients: Any, person: Any, db: Database) -> None:
    made = create(clients)
    first_link = made["setup_url"]
    holder = person()
    assert set_password(holder, first_link).status_code == 303
    assert holder.get("/api/v1/cases").status_code == 200

    reset = clients("office").patch(f"/api/v1/users/{made['id']}", json={"reset": True})
    assert reset.status_code == 200 and reset.json()["setup_url"] != first_link
    second_link = reset.json()["setup_url"]
    assert holder.get("/api/v1/cases").status_code == 401  # the open session ended
    assert person().login("liaison_new", PASSWORD).status_code == 400  # the old password is gone

    # A newer link makes an unused older one void as well.
    third = clients("office").patch(f"/api/v1/users/{made['id']}", json={"reset": True}).json()["setup_url"]
    assert person().get(path_of(second_link)).status_code == 410
    assert set_password(person(), third, "Brand-new-pass-7").status_code == 303
    assert person().login("liaison_new", "Brand-new-pass-7").status_code == 303
    assert actions(db, made["id"]).count("account.setup_issued") == 3


def test_a_disabled_account_is_refused_everywhere_at_once(clients: Any, person: Any, db: Database) -> None:
    office = clients("office")
    subcenter = clients("subcenter_sh")
    info = register(db, first_party=True)
    rp = oauth_client(clients(), info, scope="openid profile enterprises:read")
    token, _ = login_and_get_tokens(subcenter, rp, "openid profile enterprises:read")
    api = person()
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    assert api.get("/api/v1/enterprises", headers=bearer).status_code == 200
    assert subcenter.get("/enterprises").status_code == 200

    with db.reads() as session:
        user_id = session.scalars(select(User.id).where(User.username == "subcenter_sh")).one()
    answer = office.patch(f"/api/v1/users/{user_id}", json={"active": False})
    assert answer.status_code == 200 and answer.json()["active"] is False

    assert subcenter.get("/enterprises", follow_redirects=False).status_code in (302, 303, 401)
    assert api.get("/api/v1/enterprises", headers=bearer).status_code == 401
    assert person().login("subcenter_sh").status_code == 400
    assert "account.disabled" in actions(db, user_id)

    # The list shows it disabled; enabling lets the person in again with the same password.
    listed = office.get("/api/v1/users", params={"active": "false"}).json()["items"]
    assert [u["username"] for u in listed] == ["subcenter_sh"]
    assert office.patch(f"/api/v1/users/{user_id}", json={"active": True}).status_code == 200
    assert person().login("subcenter_sh").status_code == 303


def test_the_office_cannot_disable_itself(clients: Any, world: dict[str, Any]) -> None:
    office = clients("office")
    answer = office.patch(f"/api/v1/users/{world['users']['office']}", json={"active": False})
    assert answer.status_code == 403


@pytest.mark.parametrize("username", ["liaison_xz", "subcenter_sh", "workstation_1"])
def test_other_roles_are_refused(clients: Any, username: str, world: dict[str, Any]) -> None:
    someone = clients(username)
    assert someone.get("/admin/users").status_code == 403
    assert someone.get("/api/v1/users").status_code == 403
    assert someone.post("/api/v1/users", json=NEW_LIAISON).status_code == 403
    assert someone.patch(f"/api/v1/users/{world['users']['office']}", json={"active": False}).status_code == 403
    assert clients().get("/api/v1/users").status_code == 401


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"role": "chief"}, "role", "角色"),
    ({"username": "Liaison-New"}, "username", "小写字母"),
    ({"username": "office"}, "username", "已被使用"),
    ({"node": "sc-shanghai"}, "node", "市中心"),
    ({"node": "no-such-node"}, "node", "没有该节点"),
    ({"unit": None}, "unit", "警种"),
    ({"unit": "no-such-unit"}, "unit", "单位不存在"),
    ({"phone": "12345"}, "phone", "手机号"),
    ({"email": "not-an-address"}, "email", "电子邮箱"),
    ({"role": "subcenter", "node": "ws-demo-1", "unit": None}, "node", "分中心"),
    ({"role": "enterprise", "node": "hub", "unit": None}, "node", "工作站"),
    ({"leader": True}, "leader", "领导"),
])
def test_validation_names_the_field_in_chinese(clients: Any, db: Database, changes: dict[str, Any], field: str,
                                               words: str) -> None:
    office = clients("office")
    before = actions(db)
    answer = office.post("/api/v1/users", json={**NEW_LIAISON, **changes})
    assert answer.status_code == 422, answer.text
    errors = {e["field"]: e["message"] for e in answer.json()["errors"]}
    assert field in errors and words in errors[field], errors
    assert actions(db) == before  # nothing written


def test_the_list_filters_pages_and_masks_phones(clients: Any) -> None:
    office = clients("office")
    create(clients)
    liaisons = office.get("/api/v1/users", params={"role": "liaison"}).json()
    assert {u["username"] for u in liaisons["items"]} == {"liaison_xz", "liaison_jz", "liaison_new"}
    assert office.get("/api/v1/users", params={"unit": "economic-crime"}).json()["items"][0]["username"] == "liaison_jz"
    assert [u["username"] for u in office.get("/api/v1/users", params={"q": "王敏"}).json()["items"]] == ["liaison_new"]
    assert {u["node"] for u in office.get("/api/v1/users", params={"node": "sc-shanghai"}).json()["items"]} == {"sc-shanghai"}
    first = office.get("/api/v1/users", params={"limit": 2}).json()
    assert len(first["items"]) == 2 and first["next_offset"] == 2
    page = office.get("/admin/users", params={"role": "liaison"})
    assert page.status_code == 200 and "138****5678" in page.text and "13812345678" not in page.text
    assert "用户管理" in page.text and "我的账号" in page.text


def test_the_pages_add_an_account_and_show_its_link(clients: Any, person: Any, db: Database) -> None:
    office = clients("office")
    form = {"username": "office_two", "name": "李静", "role": "office", "node": "hub", "unit": "", "phone": "",
            "email": "", "leader": "1", "csrf_token": office.csrf}
    bad = office.post("/admin/users/new", data={**form, "username": "A"})
    assert bad.status_code == 422 and "小写字母" in bad.text
    answer = office.post("/admin/users/new", data=form)
    assert answer.status_code == 200
    link = re.search(r'<code id="setup-url">([^<]+)</code>', answer.text).group(1)  # type: ignore[union-attr]
    assert set_password(person(), link).status_code == 303
    with db.reads() as session:
        user = session.scalars(select(User).where(User.username == "office_two")).one()
        assert user.is_leader and user.role == "office"
    reset = office.post(f"/admin/users/{user.id}/reset", data={"csrf_token": office.csrf})
    assert reset.status_code == 200 and "/setup/" in reset.text
    assert office.post(f"/admin/users/{user.id}/disable", data={"csrf_token": office.csrf},
                       follow_redirects=False).status_code == 303
    with db.reads() as session:
        assert session.get(User, user.id).active is False  # type: ignore[union-attr]


def test_changing_ones_password_needs_the_current_one(clients: Any, person: Any, db: Database,
                                                       world: dict[str, Any]) -> None:
    me = clients("liaison_xz")
    assert me.get("/account").status_code == 200
    wrong = me.post("/account/password", data={"current_password": "guess-1234", "new_password": PASSWORD,
                                               "new_password_confirm": PASSWORD, "csrf_token": me.csrf})
    assert wrong.status_code == 422 and "当前密码不正确" in wrong.text
    weak = me.post("/account/password", data={"current_password": "lianfu-demo", "new_password": "abc",
                                              "new_password_confirm": "abc", "csrf_token": me.csrf})
    assert weak.status_code == 422
    done = me.post("/account/password", data={"current_password": "lianfu-demo", "new_password": PASSWORD,
                                              "new_password_confirm": PASSWORD, "csrf_token": me.csrf})
    assert done.status_code == 200 and "密码已修改" in done.text
    assert me.get("/api/v1/cases").status_code == 200  # this session goes on
    assert person().login("liaison_xz").status_code == 400
    assert person().login("liaison_xz", PASSWORD).status_code == 303
    trail = actions(db, world["users"]["liaison_xz"])
    assert "security.password_change_refused" in trail and "account.password_changed" in trail


def _enrol(client: Client) -> str:
    page = client.post("/account/totp", data={"csrf_token": client.csrf})
    assert page.status_code == 200 and "<svg" in page.text
    secret = re.search(r'<code id="totp-secret">([^<]+)</code>', page.text).group(1).replace(" ", "")  # type: ignore[union-attr]
    sealed = re.search(r'name="secret" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    wrong = client.post("/account/totp/confirm", data={"secret": sealed, "code": "000000", "csrf_token": client.csrf})
    assert wrong.status_code == 422
    code = pyotp.TOTP(secret).now()
    ok = client.post("/account/totp/confirm", data={"secret": sealed, "code": code, "csrf_token": client.csrf})
    assert ok.status_code == 200 and "身份验证器已设置" in ok.text, ok.text
    return secret


def test_an_authenticator_is_enrolled_by_code_and_asked_at_login(clients: Any, person: Any, db: Database,
                                                                 world: dict[str, Any]) -> None:
    leader = clients("leader")
    secret = _enrol(leader)
    stranger = person()
    login = stranger.http.post("/login", data={"username": "leader", "password": "lianfu-demo", "next": "/",
                                               "csrf_token": stranger.csrf}, follow_redirects=False)
    assert login.status_code == 303 and login.headers["location"] == "/login/totp"
    trail = actions(db, world["users"]["leader"])
    assert "security.totp_enrol_refused" in trail and "account.totp_enabled" in trail
    # Removing it needs a current code (a fresh one: the enrolling code is spent).
    assert leader.post("/account/totp/remove", data={"code": "000000", "csrf_token": leader.csrf}).status_code == 422
    app = leader.http.app
    real_clock = app.state.clock
    app.state.clock = lambda: real_clock() + timedelta(seconds=90)
    try:
        code = pyotp.TOTP(secret).at(app.state.clock())
        removed = leader.post("/account/totp/remove", data={"code": code, "csrf_token": leader.csrf})
    finally:
        app.state.clock = real_clock
    assert removed.status_code == 200 and "account.totp_removed" in actions(db, world["users"]["leader"])
    # A liaison account has no second factor to set up.
    assert clients("liaison_xz").post("/account/totp", data={"csrf_token": clients("liaison_xz").csrf}).status_code == 409


def test_a_required_second_factor_holds_the_office_at_its_account_page(clients: Any, person: Any) -> None:
    office = clients("office")
    assert office.post("/admin/users/second-factor", data={"require_totp": "1", "csrf_token": office.csrf},
                       follow_redirects=False).status_code == 303
    other = person()
    assert other.login("leader").status_code == 303
    held = other.get("/cases", follow_redirects=False)
    assert held.status_code == 303 and held.headers["location"] == "/account"
    assert other.get("/api/v1/cases").status_code == 403
    page = other.get("/account")
    assert page.status_code == 200 and "要求您的账号使用第二重验证" in page.text
    _enrol(other)
    assert other.get("/cases").status_code == 200
    # Liaison accounts are not held.
    assert clients("liaison_xz").get("/cases").status_code == 200


def test_guessing_the_current_password_is_held_back_like_logins(clients: Any) -> None:
    me = clients("liaison_jz")
    for _ in range(5):
        wrong = me.post("/account/password", data={"current_password": "guess-1234", "new_password": PASSWORD,
                                                   "new_password_confirm": PASSWORD, "csrf_token": me.csrf})
        assert wrong.status_code == 422
    held = me.post("/account/password", data={"current_password": "lianfu-demo", "new_password": PASSWORD,
                                              "new_password_confirm": PASSWORD, "csrf_token": me.csrf})
    assert held.status_code == 422 and "尝试次数过多" in held.text


def test_the_edit_page_changes_an_account_and_keeps_a_masked_phone(clients: Any, db: Database) -> None:
    office = clients("office")
    made = create(clients)
    page = office.get(f"/admin/users/{made['id']}/edit")
    assert page.status_code == 200 and 'value="138****5678"' in page.text
    form = {"username": "liaison_new", "name": "王敏敏", "role": "liaison", "node": "hub", "unit": "economic-crime",
            "phone": "138****5678", "email": "", "csrf_token": office.csrf}
    done = office.post(f"/admin/users/{made['id']}/edit", data=form, follow_redirects=False)
    assert done.status_code == 303
    with db.reads() as session:
        user = session.get(User, uuid.UUID(made["id"]))
        assert (user.display_name, user.unit_id, user.phone, user.email) == ("王敏敏", "economic-crime", "13812345678",
                                                                             None)
    moved = office.post(f"/admin/users/{made['id']}/edit", data={**form, "role": "subcenter"})
    assert moved.status_code == 422 and "分中心" in moved.text


def test_a_token_needs_the_users_scope(clients: Any, db: Database) -> None:
    office = clients("office")
    info = register(db, first_party=True)
    scoped = oauth_client(clients(), info, scope="openid profile users:read")
    token, _ = login_and_get_tokens(office, scoped, "openid profile users:read")
    api = clients()
    assert api.get("/api/v1/users", headers={"Authorization": f"Bearer {token['access_token']}"}).status_code == 200
    other = oauth_client(clients(), info, scope="openid profile cases:read")
    token, _ = login_and_get_tokens(office, other, "openid profile cases:read")
    assert api.get("/api/v1/users", headers={"Authorization": f"Bearer {token['access_token']}"}).status_code == 403
