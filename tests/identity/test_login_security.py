"""What people expect of a login: throttling per account and address without telling which accounts exist, and TOTP.

Everything goes through the real login form; the app's clock is moved instead of sleeping through a lock.
"""
from __future__ import annotations

import html
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyotp
from sqlalchemy import func, select

from common.identity import login as flow
from common.identity import totp
from common.db import Database
from common.models import AuditEntry, LoginChallenge, LoginThrottle, User, UserTotp, WebSession
from common.sealing import unseal
from common.settings import Settings
from tests.federation.test_cli import lianfu

# The subject is the login: every client logs in through the real form, each on an app of its own (clocks move).
REAL_LOGIN = True
APP_PER_CLIENT = True

ALERT_RE = re.compile(r'role="alert">([^<]*)<')
SESSION = "lianfu_hub_session"
CHALLENGE = "lianfu_hub_login"


class Clock:
    def __init__(self) -> None:
        # Aligned to a TOTP step, so "the same 30 seconds" in a test is unambiguous.
        self.now = datetime.fromtimestamp(int(datetime.now(timezone.utc).timestamp()) // 30 * 30 + 5, timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def with_clock(client: Any) -> Clock:
    clock = Clock()
    client.http.app.state.clock = clock
    return clock


def post_login(client: Any, username: str, password: str, next_url: str = "/", **params: str) -> Any:
    client.fetch_csrf()
    return client.post("/login", params=params, data={"username": username, "password": password, "csrf_token": client.csrf,
                                                      "next": next_url}, follow_redirects=False)


def post_code(client: Any, code: str) -> Any:
    return client.post("/login/totp", data={"code": code, "csrf_token": client.csrf}, follow_redirects=False)


def alert(response: Any) -> str:
    found = ALERT_RE.search(response.text)
    return html.unescape(found.group(1)) if found else ""


def audit_rows(db: Database, action: str) -> list[AuditEntry]:
    with db.reads() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)))


def sessions_of(db: Database, user_id: Any) -> int:
    with db.reads() as session:
        return session.scalar(select(func.count()).select_from(WebSession).where(WebSession.user_id == user_id)) or 0


# --- throttling -------------------------------------------------------------------------------------------------

def test_an_account_locks_after_five_failures_and_an_unknown_one_answers_the_same(clients: Any, db: Database,
                                                                                   world: dict[str, Any]) -> None:
    browser = clients()
    clock = with_clock(browser)
    answers = {}
    for username in ("office", "no-such-person"):
        for _ in range(5):
            assert post_login(browser, username, "wrong-password-1").status_code == 400
        # Locked: even the right password is refused, before it is checked.
        answers[username] = post_login(browser, username, "lianfu-demo")
    known, unknown = answers["office"], answers["no-such-person"]
    assert known.status_code == unknown.status_code == 429
    assert known.headers["retry-after"] == unknown.headers["retry-after"] == "900"
    assert alert(known) == alert(unknown) == "尝试次数过多，请 15 分钟后再试。"
    assert known.text.replace("office", "X") == unknown.text.replace("no-such-person", "X")
    assert SESSION not in known.cookies and sessions_of(db, world["users"]["office"]) == 0

    english = post_login(browser, "office", "lianfu-demo", lang="en")
    assert english.status_code == 429 and alert(english) == "Too many attempts. Please try again in 15 min."

    throttled = audit_rows(db, "login.throttled")
    assert {e.actor for e in throttled} == {"office", "no-such-person"} and len(throttled) == 3
    assert all(e.detail["scope"] == "account" and e.address for e in throttled)
    assert {e.actor for e in audit_rows(db, "login.locked")} == {"office", "no-such-person"}

    clock.advance(minutes=15, seconds=1)
    assert post_login(browser, "office", "lianfu-demo").status_code == 303
    assert sessions_of(db, world["users"]["office"]) == 1


def test_locks_double_while_failures_go_on_and_a_good_login_resets_the_count(clients: Any, db: Database,
                                                                             world: dict[str, Any]) -> None:
    browser = clients()
    clock = with_clock(browser)
    for minutes in (15, 30, 60):
        for _ in range(5):
            assert post_login(browser, "leader", "wrong-password-1").status_code == 400
        refused = post_login(browser, "leader", "lianfu-demo")
        assert refused.status_code == 429 and refused.headers["retry-after"] == str(minutes * 60)
        clock.advance(minutes=minutes - 1)
        still = post_login(browser, "leader", "lianfu-demo")
        assert still.status_code == 429 and still.headers["retry-after"] == "60"
        assert alert(still) == "尝试次数过多，请 1 分钟后再试。"
        clock.advance(minutes=1, seconds=1)

    assert post_login(browser, "leader", "lianfu-demo").status_code == 303
    with db.reads() as session:
        assert session.get(LoginThrottle, ("account", "leader")) is None
    # Counting starts again from zero, and the next lock is a first one.
    for _ in range(4):
        assert post_login(browser, "leader", "wrong-password-1").status_code == 400
    assert post_login(browser, "leader", "lianfu-demo").status_code == 303
    for _ in range(5):
        post_login(browser, "leader", "wrong-password-1")
    assert post_login(browser, "leader", "lianfu-demo").headers["retry-after"] == "900"

    # Failures spread wider than the window never add up to a lock.
    clock.advance(minutes=16)
    for _ in range(8):
        assert post_login(browser, "office", "wrong-password-1").status_code == 400
        clock.advance(minutes=4)


def test_an_address_guessing_across_accounts_is_blocked(clients: Any, db: Database, settings: Settings,
                                                        world: dict[str, Any]) -> None:
    browser = clients()
    clock = with_clock(browser)
    for n in range(20):
        assert post_login(browser, f"guess{n}", "wrong-password-1").status_code == 400
    blocked = post_login(browser, "office", "lianfu-demo")
    assert blocked.status_code == 429 and blocked.headers["retry-after"] == "900"
    assert audit_rows(db, "login.throttled")[-1].detail["scope"] == "address"
    # A good login does not clear the address's count: only time does.
    with db.transaction() as session:
        elsewhere = flow.password_step(session, "hub", "office", "lianfu-demo", "192.0.2.7", "/", clock.now)
    assert elsewhere.status == "ok"
    assert post_login(browser, "office", "lianfu-demo").status_code == 429
    clock.advance(minutes=15, seconds=1)
    assert post_login(browser, "office", "lianfu-demo").status_code == 303


# --- TOTP ---------------------------------------------------------------------------------------------------------

def enable_totp(db: Database, settings: Settings, username: str, now: datetime) -> pyotp.TOTP:
    with db.transaction() as session:
        user = session.scalars(select(User).where(User.username == username)).one()
        uri = totp.enable(session, settings.secret_key, user, now)
    return pyotp.parse_uri(uri)


def test_a_totp_account_needs_the_code_after_the_password(clients: Any, db: Database, settings: Settings,
                                                          world: dict[str, Any]) -> None:
    browser = clients()
    clock = with_clock(browser)
    authenticator = enable_totp(db, settings, "office", clock.now)

    step_one = post_login(browser, "office", "lianfu-demo", next_url="/enterprises")
    assert step_one.status_code == 303 and step_one.headers["location"] == "/login/totp"
    assert SESSION not in step_one.cookies and CHALLENGE in step_one.cookies
    assert "Path=/login" in step_one.headers["set-cookie"] and "HttpOnly" in step_one.headers["set-cookie"]
    assert sessions_of(db, world["users"]["office"]) == 0
    assert browser.get("/api/v1/enterprises").status_code == 401
    page = browser.get("/login/totp")
    assert page.status_code == 200 and 'name="code"' in page.text and "两步验证" in page.text

    code = authenticator.at(clock.now)
    wrong = post_code(browser, f"{(int(code) + 1) % 1_000_000:06d}")
    assert wrong.status_code == 400 and alert(wrong) == "验证码错误或已被使用" and SESSION not in wrong.cookies

    right = post_code(browser, code)
    assert right.status_code == 303 and right.headers["location"] == "/enterprises" and SESSION in right.cookies
    assert browser.get("/api/v1/enterprises").status_code == 200
    with db.reads() as session:
        assert session.scalar(select(func.count()).select_from(LoginChallenge)) == 0

    # The same code again, in the same 30 seconds, after the password again: refused.
    assert post_login(browser, "office", "lianfu-demo").headers["location"] == "/login/totp"
    replay = post_code(browser, code)
    assert replay.status_code == 400 and SESSION not in replay.cookies
    assert sessions_of(db, world["users"]["office"]) == 1
    # The next step's code is good.
    clock.advance(seconds=30)
    assert post_code(browser, authenticator.at(clock.now)).status_code == 303
    assert sessions_of(db, world["users"]["office"]) == 2

    fails = audit_rows(db, "login.totp_fail")
    assert [e.detail["reason"] for e in fails] == ["wrong", "replayed"] and fails[0].actor == "office"
    oks = audit_rows(db, "login.ok")
    assert [e.detail for e in oks[-2:]] == [{"second_factor": "totp"}] * 2
    assert len(audit_rows(db, "login.totp_required")) == 2

    # The secret is stored sealed, never in the clear.
    with db.reads() as session:
        row = session.get(UserTotp, world["users"]["office"])
    assert authenticator.secret not in row.secret
    assert unseal(settings.secret_key, totp.PURPOSE, row.secret).decode() == authenticator.secret


def test_wrong_codes_count_towards_the_lock(clients: Any, db: Database, settings: Settings, world: dict[str, Any]) -> None:
    browser = clients()
    clock = with_clock(browser)
    authenticator = enable_totp(db, settings, "leader", clock.now)
    post_login(browser, "leader", "lianfu-demo")
    for _ in range(3):
        assert post_code(browser, "000000" if authenticator.at(clock.now) != "000000" else "111111").status_code == 400
    # Three wrong codes end the half-finished login: the password is asked again.
    gone = post_code(browser, authenticator.at(clock.now))
    assert gone.status_code == 400 and "登录已超时" in alert(gone) and SESSION not in gone.cookies
    assert browser.get("/login/totp", follow_redirects=False).headers["location"] == "/login"

    # The right password does not wipe out the wrong codes: two more and the account is locked.
    post_login(browser, "leader", "lianfu-demo")
    for _ in range(2):
        post_code(browser, "000000" if authenticator.at(clock.now) != "000000" else "111111")
    locked = post_code(browser, authenticator.at(clock.now))
    assert locked.status_code == 429 and locked.headers["retry-after"] == "900" and SESSION not in locked.cookies
    assert post_login(browser, "leader", "lianfu-demo").status_code == 429
    assert len(audit_rows(db, "login.totp_fail")) == 5
    assert [e.detail["step"] for e in audit_rows(db, "login.throttled")] == ["totp", "password"]

    clock.advance(minutes=15, seconds=1)
    assert post_login(browser, "leader", "lianfu-demo").headers["location"] == "/login/totp"
    assert post_code(browser, authenticator.at(clock.now)).status_code == 303


def test_a_challenge_expires_and_is_no_session(clients: Any, db: Database, settings: Settings,
                                               world: dict[str, Any]) -> None:
    browser = clients()
    clock = with_clock(browser)
    authenticator = enable_totp(db, settings, "office", clock.now)
    post_login(browser, "office", "lianfu-demo")
    # The challenge cookie is worth nothing as a session cookie.
    challenge = browser.cookies.get(CHALLENGE)
    assert challenge and browser.get("/api/v1/enterprises", headers={"Cookie": f"{SESSION}={challenge}"}).status_code == 401
    browser.fetch_csrf()  # that request went without the CSRF cookie, so the browser was given a new one
    clock.advance(minutes=5, seconds=1)
    late = post_code(browser, authenticator.at(clock.now))
    assert late.status_code == 400 and "登录已超时" in alert(late) and SESSION not in late.cookies


def test_totp_from_the_command_line(tmp_path: Path) -> None:
    assert lianfu("hub", "seed-demo", "--enterprises", "0", data_dir=tmp_path).returncode == 0
    enabled = lianfu("hub", "totp", "enable", "leader", data_dir=tmp_path)
    assert enabled.returncode == 0, enabled.stderr
    uri = enabled.stdout.strip()
    assert uri.startswith("otpauth://totp/Lianfu:leader?secret=") and "\n" not in uri  # no QR when piped
    secret = pyotp.parse_uri(uri).secret
    again = lianfu("hub", "totp", "enable", "leader", data_dir=tmp_path)
    assert again.returncode != 0 and "already has TOTP" in again.stderr and secret not in again.stdout + again.stderr
    liaison = lianfu("hub", "totp", "enable", "liaison_xz", data_dir=tmp_path)
    assert liaison.returncode != 0 and "not an office or leader account" in liaison.stderr
    with_qr = lianfu("hub", "totp", "enable", "office", "--qr", data_dir=tmp_path)
    assert with_qr.returncode == 0 and len(with_qr.stdout.splitlines()) > 10

    database = Database.connect(f"sqlite:///{tmp_path / 'lianfu.db'}")
    key = (tmp_path / "secret_key").read_text().strip()
    with database.reads() as session:
        leader = session.scalars(select(User).where(User.username == "leader")).one()
        row = session.get(UserTotp, leader.id)
        assert secret not in row.secret and unseal(key, totp.PURPOSE, row.secret).decode() == secret
        actions = set(session.scalars(select(AuditEntry.action)))
    database.dispose()
    assert "totp.enabled" in actions

    assert lianfu("hub", "totp", "disable", "leader", data_dir=tmp_path).returncode == 0
    none_left = lianfu("hub", "totp", "disable", "leader", data_dir=tmp_path)
    assert none_left.returncode != 0 and "has no TOTP" in none_left.stderr
    for command in (["totp"], ["totp", "enable"], ["totp", "disable"]):
        assert lianfu("hub", *command, "--help", data_dir=tmp_path).returncode == 0
