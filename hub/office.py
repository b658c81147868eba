"""The office's own work, mounted by the hub alone: a spoke never imports it, and answers these paths with where they
are done (spoke/hub_only.py)."""
from __future__ import annotations

from litestar.types import ControllerRouterHandler

from common.audit.office import AUDIT_PAGE_HANDLERS
from common.audit.office_api import AUDIT_API_HANDLERS
from common.bulletins.api import BulletinController
from common.bulletins.office import BULLETIN_OFFICE_HANDLERS
from common.bulletins.office_api import BulletinOfficeController
from common.cases.office import CASE_OFFICE_HANDLERS
from common.cases.office_api import DEADLINE_API_HANDLERS
from common.federation.api import ApplicationController, NodeController, UnitController
from common.federation.office import ADMIN_PAGE_HANDLERS, APPLICATION_OFFICE_HANDLERS
from common.federation.office_api import ApplicationOfficeController, NodeOfficeController, UnitOfficeController
from common.identity.office import ACCOUNT_OFFICE_HANDLERS
from common.identity.office_api import USER_API_HANDLERS
from common.meetings.api import SurveyController
from common.meetings.office_api import MeetingController, SurveyOfficeController
from common.meetings.office import MEETING_OFFICE_HANDLERS
from common.reports.pages import REPORT_API_HANDLERS, REPORT_PAGE_HANDLERS
from common.notify.office import DELIVERY_API_HANDLERS, DELIVERY_PAGE_HANDLERS
from common.visits.office import VISIT_OFFICE_HANDLERS
from common.inforeports.api import InfoReportController
from common.inforeports.office import INFO_REPORT_OFFICE_HANDLERS, InfoReportOfficeController
from common.keypersons.api import KeyPersonController
from common.keypersons.pages import KEY_PERSON_PAGE_HANDLERS
from common.tasks.api import TaskController
from common.tasks.office import TASK_OFFICE_HANDLERS, TaskOfficeController
from common.web.app import API_HANDLERS
from hub.admin_page import ADMIN_INDEX_HANDLERS
from hub.jobs_page import JOB_PAGE_HANDLERS

OFFICE_HANDLERS: list[ControllerRouterHandler] = [
    *CASE_OFFICE_HANDLERS, *VISIT_OFFICE_HANDLERS, *APPLICATION_OFFICE_HANDLERS, *BULLETIN_OFFICE_HANDLERS,
    *AUDIT_PAGE_HANDLERS, *ACCOUNT_OFFICE_HANDLERS, *ADMIN_PAGE_HANDLERS, *DELIVERY_PAGE_HANDLERS, *JOB_PAGE_HANDLERS, *ADMIN_INDEX_HANDLERS,
    *INFO_REPORT_OFFICE_HANDLERS, *TASK_OFFICE_HANDLERS, *KEY_PERSON_PAGE_HANDLERS,
    *MEETING_OFFICE_HANDLERS,
    *REPORT_PAGE_HANDLERS,
]

# The API of every node, each controller with the office's own writes on its paths where it has some.
WITH_OFFICE_WRITES = {BulletinController: BulletinOfficeController, ApplicationController: ApplicationOfficeController,
                      NodeController: NodeOfficeController, UnitController: UnitOfficeController,
                      InfoReportController: InfoReportOfficeController, TaskController: TaskOfficeController,
                      SurveyController: SurveyOfficeController}
HUB_API_HANDLERS: list[ControllerRouterHandler] = [
    *(WITH_OFFICE_WRITES.get(handler, handler) for handler in API_HANDLERS), *AUDIT_API_HANDLERS,
    *USER_API_HANDLERS, *DEADLINE_API_HANDLERS, *DELIVERY_API_HANDLERS,
    KeyPersonController, MeetingController,
    *REPORT_API_HANDLERS,
]
