"""The installed release of Lianfu and the schema revision its migrations lead to."""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def package_version() -> str:
    """The version pyproject.toml gives the installed package (a source tree never installed says so)."""
    try:
        return version("lianfu")
    except PackageNotFoundError:
        return "0+unknown"


def schema_head() -> str:
    """The Alembic revision this release's code expects its database at."""
    from common.migrate import head_and_previous

    return head_and_previous()[0]
