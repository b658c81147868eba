"""The installed release of Lianfu and the schema revision its migrations lead to."""
from __future__ import annotations

from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version


@lru_cache(maxsize=1)
def package_version() -> str:
    """The version pyproject.toml gives the installed package (a source tree never installed says so); read once
    per process, not at every health probe."""
    try:
        return version("lianfu")
    except PackageNotFoundError:
        return "0+unknown"


def schema_head() -> str:
    """The Alembic revision this release's code expects its database at."""
    from common.migrate import head_and_previous

    return head_and_previous()[0]
