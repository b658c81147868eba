"""Password hashing with argon2id (argon2-cffi) and the password policy."""
from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from common.errors import InvalidField
from common.i18n import N_

_hasher = PasswordHasher()
# A hash to verify against when the account does not exist, so timing does not tell which accounts exist.
_DUMMY = _hasher.hash("lianfu-no-such-account")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY, password) and password_hash is not None
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
