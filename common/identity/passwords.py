"""Password hashing with argon2id (argon2-cffi) and the password policy."""
from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from common.errors import InvalidField
from common.i18n import N_

_hasher = PasswordHasher()


@cache
def _dummy() -> str:
    """A hash to verify against when the account does not exist, so timing does not tell which accounts exist.
    Made at the first verification, not at import: every `lianfu` process imports this module, few verify."""
    return _hasher.hash("lianfu-no-such-account")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    dummy = _dummy()  # made before the account decides which hash is verified, so the first call is no faster
    try:
        return _hasher.verify(password_hash or dummy, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def check_password_policy(password: str, username: str = "") -> None:
    if len(password) < 10:
        raise InvalidField("password", N_("Password must be at least 10 characters"))
    if username and username.lower() in password.lower():
        raise InvalidField("password", N_("Password must not contain the username"))
    kinds = sum([any(c.isalpha() for c in password), any(c.isdigit() for c in password), any(not c.isalnum() for c in password)])
    if kinds < 2:
        raise InvalidField("password", N_("Password must mix letters with digits or symbols"))
