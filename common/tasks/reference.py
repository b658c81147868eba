"""The choices of tasks: where a task comes from and where it stands."""
from __future__ import annotations

from common.i18n import N_

TASK_SOURCES = {"collection": N_("Monthly collection"), "summary": N_("Quarterly summary"),
                "resolution": N_("Meeting resolution"), "leader": N_("Leader's assignment"), "other": N_("Other")}
TASK_STATUSES = {"open": N_("Open"), "submitted": N_("Feedback submitted"), "done": N_("Done"),
                 "cancelled": N_("Cancelled")}
OFFICE_ACTIONS = {"accept": ("submitted", "done"), "return": ("submitted", "open"), "cancel": (None, "cancelled")}
