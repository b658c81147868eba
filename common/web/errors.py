"""One error format: RFC 9457 problem details for the API, a page with the message for people."""
from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from sqlalchemy.exc import DataError, IntegrityError, StatementError

from common.errors import Conflict, DomainError, Forbidden, InvalidField, NotFound
from common.i18n import N_, gettext

log = logging.getLogger("lianfu.web")
PROBLEM = "application/problem+json"

TITLES = {
    400: N_("The request is not valid"),
    401: N_("Please log in"),
    403: N_("Not allowed"),
    404: N_("Not found"),
    405: N_("Method not allowed"),
    409: N_("Conflicts with the current state"),
    413: N_("Too large"),
    422: N_("Some fields are not valid"),
    426: N_("Upgrade needed"),
    429: N_("Too many requests"),
    500: N_("Internal error"),
    503: N_("Temporarily unavailable"),
}


def problem(request: Request, status: int, detail: str | None = None, errors: list[dict[str, Any]] | None = None,
            headers: dict[str, str] | None = None) -> Response[Any]:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": gettext(TITLES.get(status, "Error")),
        "status": status,
        "instance": request.url.path,
    }
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    if _wants_page(request):
        from common.web.templating import render_error_page

        return render_error_page(request, status, body, headers)
    return Response(body, status_code=status, media_type=PROBLEM, headers=headers)


# Endpoints for programs, never for people: they always answer problem+json.
MACHINE_PATHS = ("/api/", "/oauth/token", "/oauth/revoke", "/oauth/introspect", "/oauth/userinfo", "/oauth/jwks",
                 "/sync/", "/.well-known", "/healthz", "/readyz", "/metrics", "/schema")


def _wants_page(request: Request) -> bool:
    if request.url.path.startswith(MACHINE_PATHS):
        return False
    return "text/html" in request.headers.get("accept", "") or request.headers.get("hx-request") == "true"


def field_errors(exc: InvalidField) -> list[dict[str, Any]]:
    return [{"field": p.field, "message": gettext(p.message, **p.params)} for p in exc.problems]


def domain_error_handler(request: Request, exc: DomainError) -> Response[Any]:
    if isinstance(exc, InvalidField):
        errors = field_errors(exc)
        return problem(request, 422, "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors)
    if isinstance(exc, NotFound):
        return problem(request, 404, gettext(N_("No such record, or it is outside your scope.")))
    if isinstance(exc, Forbidden):
        return problem(request, 403, gettext(exc.message, **exc.params))
    if isinstance(exc, Conflict):
        return problem(request, 409, gettext(exc.message, **exc.params))
    return problem(request, 400, str(exc))


def validation_error_handler(request: Request, exc: ValidationException) -> Response[Any]:
    errors = []
    for item in exc.extra or []:
        if isinstance(item, dict):
            field = str(item.get("key") or item.get("source") or "body")
            errors.append({"field": field, "message": gettext(N_("Not a valid value")) + f" ({item.get('message', '')})"})
    if not errors:
        errors.append({"field": "body", "message": gettext(N_("The request body is not valid JSON of the expected shape"))})
    return problem(request, 400, exc.detail, errors)


def http_error_handler(request: Request, exc: HTTPException) -> Response[Any]:
    headers = dict(exc.headers or {})
    if isinstance(exc, NotAuthorizedException):
        if _wants_page(request):
            from common.web.htmx import redirect

            return redirect(request, "/login?next=" + request.url.path)
        headers.setdefault("WWW-Authenticate", 'Bearer realm="lianfu"')
    detail = exc.detail if exc.status_code < 500 else None
    title = TITLES.get(exc.status_code)
    return problem(request, exc.status_code, gettext(title) if detail == title or not detail else detail, headers=headers)


def internal_error_handler(request: Request, exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(request, HTTP_500_INTERNAL_SERVER_ERROR)


# The decoders' own words (msgspec, the json module) when a body is nested past Python's recursion limit: only input
# can cause them, so they are the request's fault. Any other RecursionError is ours.
_DECODER_RECURSION = ("while deserializing", "while decoding")


def recursion_error_handler(request: Request, exc: RecursionError) -> Response[Any]:
    if any(words in str(exc) for words in _DECODER_RECURSION):
        return problem(request, 400, gettext(N_("The JSON is nested too deeply.")),
                       [{"field": "body", "message": gettext(N_("Nested too deeply"))}])
    return internal_error_handler(request, exc)


def database_refusal_handler(request: Request, exc: StatementError) -> Response[Any]:
    """A value the database would not take (a 64-bit overflow, a NUL in PostgreSQL text, an id no row has).

    Validation should have refused it first; this is the net under it, so a request that slipped through is still
    told it was at fault (and its transaction rolled back: nothing written), while the gap is logged to be closed."""
    if isinstance(exc, IntegrityError):
        log.warning("integrity error not caught by validation on %s %s: %s", request.method, request.url.path,
                    str(exc.orig)[:200])
        return problem(request, 409, gettext(N_("The request names a record that does not exist, or repeats one "
                                                "that does.")))
    if isinstance(exc, DataError) or isinstance(exc.orig, (OverflowError, ValueError)):
        log.warning("value refused by the database on %s %s: %s", request.method, request.url.path,
                    str(exc.orig)[:200])
        return problem(request, 422, gettext(N_("A value is out of range or holds characters that cannot be "
                                                "stored.")))
    return internal_error_handler(request, exc)


def overflow_error_handler(request: Request, exc: OverflowError) -> Response[Any]:
    # SQLite's driver raises this itself (not wrapped) for an integer past 64 bits.
    if "SQLite INTEGER" in str(exc):
        return database_refusal_handler(request, StatementError(str(exc), None, None, exc))
    return internal_error_handler(request, exc)


EXCEPTION_HANDLERS = {
    DomainError: domain_error_handler,
    ValidationException: validation_error_handler,
    HTTPException: http_error_handler,
    RecursionError: recursion_error_handler,
    StatementError: database_refusal_handler,
    OverflowError: overflow_error_handler,
    Exception: internal_error_handler,
}
