"""The office's own work is done at the hub: here its paths answer 403 with where it is done, in the person's
language, rather than an unexplained 404 or 405."""
from __future__ import annotations

from typing import Any

from litestar import Request, route
from litestar.handlers import HTTPRouteHandler

from common.errors import Forbidden
from common.i18n import N_
from common.web.auth import require_principal

BULLETINS = N_("Bulletins are published by the office at the hub.")
APPLICATIONS = N_("Applications are decided at the hub.")
AUDIT = N_("The audit trail is read by the office at the hub.")
ACCOUNTS = N_("Accounts are managed by the office at the hub.")
UNITS = N_("Police units are managed by the office at the hub.")
NODES = N_("Nodes are changed by the office at the hub.")
DEADLINES = N_("Deadlines are set by the office at the hub.")
INFO_REVIEW = N_("Risk information is reviewed by the office at the hub.")
TASKS = N_("Tasks are given and decided by the office at the hub; answer yours here.")
KEY_PERSONS = N_("The key-person register is kept by the police at the hub.")
MEETINGS = N_("Joint meetings and the annual questionnaire are run by the office at the hub.")
REPORTS = N_("Reports are read by the office at the hub.")
ADMIN = N_("The platform is administered by the office at the hub.")
JOBS = N_("The hub's scheduled jobs and the messages it sends are looked after by the office at the hub.")

#: (method, path, why): the routes hub/office.py mounts, each refused here.
HUB_ONLY: list[tuple[str, str, str]] = [
    ("POST", "/cases/routing", N_("Only the office at the hub may change this.")),
    ("GET", "/admin/deadlines", DEADLINES),
    ("POST", "/admin/deadlines", DEADLINES),
    ("GET", "/api/v1/settings/deadlines", DEADLINES),
    ("PUT", "/api/v1/settings/deadlines", DEADLINES),
    ("GET", "/cases/jwg", N_("Joint working groups are decided by the center's leaders at the hub.")),
    ("POST", "/visits/settings",
     N_("These lists are changed by the office at the hub; this node receives them with its sync.")),
    ("POST", "/applications/{application_id:uuid}/decision", APPLICATIONS),
    ("POST", "/applications/{application_id:uuid}/comment", APPLICATIONS),
    ("POST", "/applications/{application_id:uuid}/enrollment-code", APPLICATIONS),
    ("GET", "/bulletins/new", BULLETINS),
    ("POST", "/bulletins/new", BULLETINS),
    ("POST", "/bulletins/{bulletin_id:uuid}/publish", BULLETINS),
    ("POST", "/bulletins/{bulletin_id:uuid}/remind", BULLETINS),
    ("POST", "/api/v1/bulletins", BULLETINS),
    ("PATCH", "/api/v1/bulletins/{bulletin_id:uuid}", BULLETINS),
    ("DELETE", "/api/v1/bulletins/{bulletin_id:uuid}", BULLETINS),
    ("POST", "/api/v1/bulletins/{bulletin_id:uuid}/remind", BULLETINS),
    ("POST", "/api/v1/applications/{application_id:uuid}/decision", APPLICATIONS),
    ("PATCH", "/api/v1/nodes/{node_id:str}", NODES),
    ("GET", "/admin/units", UNITS),
    ("POST", "/admin/units", UNITS),
    ("POST", "/admin/units/{unit_id:str}", UNITS),
    ("GET", "/admin/nodes", NODES),
    ("POST", "/admin/nodes/{node_id:str}", NODES),
    ("GET", "/admin", ADMIN),
    ("GET", "/admin/jobs", JOBS),
    ("POST", "/admin/jobs/{name:str}/run", JOBS),
    ("GET", "/admin/deliveries", JOBS),
    ("POST", "/admin/deliveries/{delivery_id:uuid}/retry", JOBS),
    ("GET", "/api/v1/deliveries", JOBS),
    ("POST", "/api/v1/units", UNITS),
    ("PATCH", "/api/v1/units/{unit_id:str}", UNITS),
    ("GET", "/audit", AUDIT),
    ("GET", "/api/v1/audit", AUDIT),
    ("GET", "/admin/users", ACCOUNTS),
    ("GET", "/admin/users/new", ACCOUNTS),
    ("POST", "/admin/users/new", ACCOUNTS),
    ("GET", "/admin/users/{user_id:uuid}/edit", ACCOUNTS),
    ("POST", "/admin/users/{user_id:uuid}/edit", ACCOUNTS),
    ("POST", "/admin/users/{user_id:uuid}/disable", ACCOUNTS),
    ("POST", "/admin/users/{user_id:uuid}/enable", ACCOUNTS),
    ("POST", "/admin/users/{user_id:uuid}/reset", ACCOUNTS),
    ("POST", "/admin/users/second-factor", ACCOUNTS),
    ("GET", "/api/v1/users", ACCOUNTS),
    ("POST", "/api/v1/users", ACCOUNTS),
    ("GET", "/api/v1/users/{user_id:uuid}", ACCOUNTS),
    ("PATCH", "/api/v1/users/{user_id:uuid}", ACCOUNTS),
    ("POST", "/info-reports/{report_id:uuid}/review", INFO_REVIEW),
    ("POST", "/api/v1/info-reports/{report_id:uuid}/review", INFO_REVIEW),
    ("GET", "/tasks/new", TASKS),
    ("POST", "/tasks/new", TASKS),
    ("POST", "/tasks/{task_id:uuid}/decision", TASKS),
    ("POST", "/api/v1/tasks", TASKS),
    ("POST", "/api/v1/tasks/{task_id:uuid}/decision", TASKS),
    # Never in a spoke's scope: nothing of it is stored or served here.
    ("GET", "/key-persons", KEY_PERSONS),
    ("GET", "/key-persons/new", KEY_PERSONS),
    ("POST", "/key-persons/new", KEY_PERSONS),
    ("GET", "/key-persons/{key_person_id:uuid}", KEY_PERSONS),
    ("POST", "/key-persons/{key_person_id:uuid}", KEY_PERSONS),
    ("GET", "/key-persons/{key_person_id:uuid}/edit", KEY_PERSONS),
    ("POST", "/key-persons/{key_person_id:uuid}/edit", KEY_PERSONS),
    ("GET", "/key-persons/{key_person_id:uuid}/reveal", KEY_PERSONS),
    ("POST", "/key-persons/{key_person_id:uuid}/reveal", KEY_PERSONS),
    ("GET", "/api/v1/key-persons", KEY_PERSONS),
    ("POST", "/api/v1/key-persons", KEY_PERSONS),
    ("GET", "/api/v1/key-persons/{key_person_id:uuid}", KEY_PERSONS),
    ("PATCH", "/api/v1/key-persons/{key_person_id:uuid}", KEY_PERSONS),
    ("DELETE", "/api/v1/key-persons/{key_person_id:uuid}", KEY_PERSONS),
    ("POST", "/api/v1/key-persons/{key_person_id:uuid}/follow-ups", KEY_PERSONS),
    ("POST", "/api/v1/key-persons/{key_person_id:uuid}/reveal", KEY_PERSONS),
    ("GET", "/meetings", MEETINGS),
    ("POST", "/meetings", MEETINGS),
    ("GET", "/meetings/{meeting_id:uuid}", MEETINGS),
    ("POST", "/meetings/{meeting_id:uuid}", MEETINGS),
    ("POST", "/surveys", MEETINGS),
    ("GET", "/api/v1/meetings", MEETINGS),
    ("POST", "/api/v1/meetings", MEETINGS),
    ("GET", "/api/v1/meetings/{meeting_id:uuid}", MEETINGS),
    ("PATCH", "/api/v1/meetings/{meeting_id:uuid}", MEETINGS),
    ("POST", "/api/v1/surveys", MEETINGS),
    ("GET", "/reports", REPORTS),
    ("GET", "/reports/{ref:str}", REPORTS),
    ("POST", "/reports/compile", REPORTS),
    ("POST", "/reports/{report_id:uuid}/edit", REPORTS),
    ("POST", "/reports/{report_id:uuid}/bulletin", REPORTS),
    ("GET", "/api/v1/reports", REPORTS),
    ("POST", "/api/v1/reports", REPORTS),
    ("GET", "/api/v1/reports/{report_id:uuid}", REPORTS),
    ("PATCH", "/api/v1/reports/{report_id:uuid}", REPORTS),
    ("POST", "/api/v1/reports/{report_id:uuid}/bulletin", REPORTS),
]


def _refusal(path: str, methods: list[str], why: str) -> HTTPRouteHandler:
    async def refuse(request: Request[Any, Any, Any]) -> None:
        require_principal(request)  # a stranger is asked to log in first, as everywhere
        raise Forbidden(why)

    # One handler per path: Litestar wraps a sync handler of a path again each time another handler joins it.
    return route(path, http_method=methods, include_in_schema=False, status_code=403, name=f"hub-only:{path}")(refuse)


def _by_path() -> list[HTTPRouteHandler]:
    paths: dict[str, tuple[list[str], str]] = {}
    for method, path, why in HUB_ONLY:
        paths.setdefault(path, ([], why))[0].append(method)
    return [_refusal(path, methods, why) for path, (methods, why) in paths.items()]


HUB_ONLY_HANDLERS = _by_path()
