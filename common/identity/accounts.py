"""The office's accounts at the hub: listed, created, changed, disabled and enabled, each change audited.

A disabled account is refused at once everywhere: its page sessions are ended and its tokens revoked in the same
transaction (the session and bearer checks also read `active` on every request).
"""
from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import Select, delete, or_, select, update
from sqlalchemy.orm import Session

from common import policy, validation
from common.center import settings as center_settings
from common.errors import Forbidden, InvalidField, NotFound
from common.i18n import N_
from common.models import LoginChallenge, Node, OAuthToken, Unit, User, WebSession, utcnow
from common.policy import Principal
from common.reference import ROLES
from common.service import Problems, apply_changes, audit_write

# Whether office and leader accounts must have a second factor before they may do anything else.
REQUIRE_TOTP_KEY = "identity.require_totp"


def _check_flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidField("value", N_("Not one of the allowed values"))
    return value


center_settings.register(REQUIRE_TOTP_KEY, False, _check_flag, N_("Second factor required for the office"))

USERNAME = re.compile(r"[a-z0-9_]{3,32}")
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# The kind of node each role belongs to.
NODE_KIND = {"office": "hub", "liaison": "hub", "subcenter": "subcenter", "enterprise": "workstation"}
# A password no hash check accepts: a new or reset account has none until its person sets one by the setup link.
NO_PASSWORD = "!"

FIELDS = ("username", "name", "role", "node", "unit", "leader", "phone", "email", "active")
COLUMN = {"username": "username", "name": "display_name", "role": "role", "node": "node_id", "unit": "unit_id",
          "leader": "is_leader", "phone": "phone", "email": "email", "active": "active"}


def totp_required(session: Session) -> bool:
    return bool(center_settings.get(session, REQUIRE_TOTP_KEY))


def user_out(user: User, masked: bool = True) -> dict[str, Any]:
    """An account as the API and the list show it; the phone masked as in the roster's lists."""
    return {
        "id": str(user.id), "username": user.username, "name": user.display_name, "role": user.role,
        "node": user.node_id, "unit": user.unit_id, "leader": user.is_leader,
        "phone": validation.mask_phone(user.phone) if masked and user.phone else (user.phone or ""),
        "email": user.email or "", "active": user.active, "has_password": user.password_hash != NO_PASSWORD,
        "created_at": user.created_at.isoformat() if user.created_at else None,
    }


def user_query(role: str | None = None, node: str | None = None, unit: str | None = None, active: bool | None = None,
               q: str | None = None) -> Select[Any]:
    stmt = select(User).where(User.deleted_at.is_(None))
    if role:
        stmt = stmt.where(User.role == role)
    if node:
        stmt = stmt.where(User.node_id == node)
    if unit:
        stmt = stmt.where(User.unit_id == unit)
    if active is not None:
        stmt = stmt.where(User.active.is_(active))
    term = (q or "").strip()
    if term:
        stmt = stmt.where(or_(User.username.contains(term.lower(), autoescape=True),
                              User.display_name.contains(term, autoescape=True)))
    return stmt.order_by(User.username)


def _text(problems: Problems, data: dict[str, Any], field: str, max_len: int, required: bool = False) -> str | None:
    value = data.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.add(field, N_("This field is required"))
        return None if value is None else ""
    if not isinstance(value, str):
        problems.add(field, N_("Not one of the allowed values"))
        return None
    value = value.strip()
    if len(value) > max_len:
        problems.add(field, N_("At most {max} characters"), max=max_len)
        return None
    return value


def _flag(problems: Problems, data: dict[str, Any], field: str) -> bool | None:
    value = data.get(field)
    if value is None:
        return None
    if not isinstance(value, bool):
        problems.add(field, N_("Not one of the allowed values"))
        return None
    return value


def _values(session: Session, data: dict[str, Any], current: User | None) -> dict[str, Any]:
    """The columns to set from the fields sent (all of them when creating), checked together: the role decides
    which node and unit fit. Raises InvalidField naming every refused field."""
    problems = Problems()
    creating = current is None
    out: dict[str, Any] = {}
    username = _text(problems, data, "username", 32, required=creating or "username" in data)
    if username:
        if not USERNAME.fullmatch(username):
            problems.add("username", N_("3 to 32 lowercase letters, digits or underscores"))
        else:
            taken = select(User.id).where(User.username == username)
            if current is not None:
                taken = taken.where(User.id != current.id)
            if session.scalar(taken) is not None:
                problems.add("username", N_("This username is already taken"))
            out["username"] = username
    name = _text(problems, data, "name", validation.MAX_PERSON_NAME, required=creating or "name" in data)
    if name:
        out["display_name"] = name
    role = data.get("role") if "role" in data else (current.role if current else None)
    if "role" in data or creating:
        if role in (None, ""):
            problems.add("role", N_("This field is required"))
            role = None
        elif role not in ROLES:
            problems.add("role", N_("Role must be one of office, liaison, subcenter or enterprise"))
            role = None
        else:
            out["role"] = role
    node = data.get("node") if "node" in data else (current.node_id if current else None)
    if creating and node in (None, "") and role in ("office", "liaison"):
        node = "hub"
    if role is not None and ("node" in data or "role" in data or creating):
        row = session.get(Node, node) if isinstance(node, str) and node else None
        if not node:
            problems.add("node", N_("This field is required"))
        elif row is None or row.deleted_at is not None:
            problems.add("node", N_("No such node"))
        elif row.kind != NODE_KIND[role]:
            problems.add("node", {"hub": N_("Office and liaison accounts belong to the hub"),
                                  "subcenter": N_("A sub-center account belongs to a sub-center node"),
                                  "workstation": N_("An enterprise account belongs to a workstation node")}[NODE_KIND[role]])
        else:
            out["node_id"] = node
    unit = data.get("unit") if "unit" in data else (current.unit_id if current else None)
    if role == "liaison":
        if "unit" in data or "role" in data or creating:
            if not unit:
                problems.add("unit", N_("A liaison account needs its police unit"))
            elif not isinstance(unit, str) or session.get(Unit, unit) is None:
                problems.add("unit", N_("No such unit"))
            else:
                out["unit_id"] = unit
    elif role is not None:
        if "unit" in data and data["unit"] not in (None, ""):
            problems.add("unit", N_("Only liaison accounts have a police unit"))
        out["unit_id"] = None
    leader = _flag(problems, data, "leader")
    if leader is not None:
        out["is_leader"] = leader
    if (leader if leader is not None else (current.is_leader if current else False)) and role not in (None, "office"):
        problems.add("leader", N_("Only office accounts can be leaders"))
    phone = _text(problems, data, "phone", 20)
    if phone is not None:
        out["phone"] = problems.check(validation.validate_mobile, phone, "phone") if phone else ""
    email = _text(problems, data, "email", 200)
    if email is not None:
        if email and not EMAIL.fullmatch(email):
            problems.add("email", N_("Not a valid e-mail address"))
        out["email"] = email or None
    active = _flag(problems, data, "active")
    if active is not None:
        out["active"] = active
    problems.raise_if_any()
    return out


def _detail(values: dict[str, Any]) -> dict[str, Any]:
    reverse = {column: field for field, column in COLUMN.items()}
    return {reverse.get(k, k): ("***" if k in ("phone", "password_hash") and v else v) for k, v in values.items()}


def create_user(session: Session, p: Principal, data: dict[str, Any]) -> User:
    """A new account with no password yet; its person sets one by the setup link issued beside it."""
    policy.require_office(p)
    values = _values(session, data, None)
    values.pop("active", None)
    user = User(**values, password_hash=NO_PASSWORD, active=True)
    session.add(user)
    session.flush()
    audit_write(session, p, "create", "user", user.id, _detail(values))
    return user


def get_user(session: Session, user_id: uuid.UUID) -> User:
    user = session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        raise NotFound()
    return user


def update_user(session: Session, p: Principal, user_id: uuid.UUID, data: dict[str, Any]) -> User:
    """Change the fields sent; disabling ends the account's sessions and tokens at once."""
    policy.require_office(p)
    user = get_user(session, user_id)
    values = _values(session, {k: v for k, v in data.items() if k in FIELDS}, user)
    if user.id == p.user_id and (values.get("active") is False or values.get("role", "office") != "office"):
        raise Forbidden(N_("You cannot disable your own account or take away its office role."))
    changed = apply_changes(user, values)
    if changed:
        session.flush()
        reverse = {column: field for field, column in COLUMN.items()}
        audit_write(session, p, "update", "user", user.id, {"changed": {reverse.get(k, k): v for k, v in changed.items()}})
    if "active" in changed:
        if user.active:
            audit_write(session, p, "account.enabled", "user", user.id, {"username": user.username})
        else:
            ended = end_access(session, user)
            audit_write(session, p, "account.disabled", "user", user.id, {"username": user.username, **ended})
    return user


def end_access(session: Session, user: User) -> dict[str, int]:
    """End every page session, half-finished login and token of the account (disabled, or its password reset)."""
    sessions = session.execute(delete(WebSession).where(WebSession.user_id == user.id)).rowcount
    session.execute(delete(LoginChallenge).where(LoginChallenge.user_id == user.id))
    tokens = session.execute(update(OAuthToken).where(OAuthToken.user_id == user.id, OAuthToken.revoked_at.is_(None))
                             .values(revoked_at=utcnow()).execution_options(synchronize_session=False)).rowcount
    return {"sessions_ended": sessions or 0, "tokens_revoked": tokens or 0}


def set_require_totp(session: Session, p: Principal, required: bool) -> bool:
    return bool(center_settings.put(session, p, REQUIRE_TOTP_KEY, required))


def needs_totp(session: Session, user: User) -> bool:
    """Whether the account must enrol a second factor before anything else (the office requires one)."""
    from common.identity import totp

    return totp.may_use_totp(user) and totp_required(session) and not totp.has_totp(session, user.id)


def node_choices(session: Session) -> dict[str, str]:
    """The nodes an account may be placed at, by name: the office first, then the sub-centers, the workstations."""
    rows = session.execute(select(Node.id, Node.name).where(Node.deleted_at.is_(None), Node.status != "retired")
                           .order_by(Node.kind, Node.name))
    return dict(rows.all())

