"""Domain errors that know nothing of HTTP; the web layer turns them into problem details."""
from __future__ import annotations

from dataclasses import dataclass, field as dc_field
from typing import Any


@dataclass(frozen=True)
class FieldProblem:
    """One refused field: `message` is an English msgid translated at render time."""

    field: str
    message: str
    params: dict[str, Any] = dc_field(default_factory=dict)


class DomainError(Exception):
    """Base of errors a request can cause by its content."""


class InvalidField(DomainError):
    """One or more fields were refused; nothing may be written."""

    def __init__(self, field: str | None = None, message: str | None = None, problems: list[FieldProblem] | None = None, **params: Any) -> None:
        self.problems: list[FieldProblem] = list(problems or [])
        if field is not None and message is not None:
            self.problems.append(FieldProblem(field, message, params))
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in self.problems))

    @classmethod
    def collect(cls, errors: list["InvalidField"]) -> "InvalidField":
        return cls(problems=[p for e in errors for p in e.problems])


class NotFound(DomainError):
    """The row does not exist, or the caller may not see it (the two are never told apart)."""


class Forbidden(DomainError):
    """The caller may see the row but may not do this to it."""

    def __init__(self, message: str = "You may not do this.", **params: Any) -> None:
        self.message = message
        self.params = params
        super().__init__(message)


class Conflict(DomainError):
    """The request does not fit the current state of the row (e.g. a case event its status refuses)."""

    def __init__(self, message: str, **params: Any) -> None:
        self.message = message
        self.params = params
        super().__init__(message)
