"""Joint meetings and their resolutions (held at the hub), and the annual questionnaire answered by each workstation
(a row per workstation, synced to and from its spoke)."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from common.orm import Base, Stamped, Synced, new_id


class Meeting(Base, Stamped):
    """A semiannual joint meeting (联席会议) or the annual summary meeting (年度总结会暨恳谈会); the office's, never synced."""

    __tablename__ = "meeting"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(16))  # semiannual / annual
    period: Mapped[str] = mapped_column(String(16))  # 2026-H2 / 2026
    title: Mapped[str] = mapped_column(String(200))
    held_at: Mapped[datetime | None] = mapped_column(default=None)
    attendees: Mapped[list[Any]] = mapped_column(default=list)
    # [{"kind": "cases" | "risks" | "item", "title": ..., "data": {...}}]; open resolutions of earlier meetings are
    # added live, from their tasks (common/meetings/service.py).
    agenda: Mapped[list[Any]] = mapped_column(default=list)
    minutes: Mapped[str] = mapped_column(Text, default="")
    # [{"text", "owner_unit" | "owner_node" | "owner_user", "due", "task_id"}]
    resolutions: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(16), default="planned")  # planned / held / closed
    created_by: Mapped[uuid.UUID | None] = mapped_column(default=None)


class Survey(Base, Stamped):
    """The year's satisfaction questionnaire, made and sent by the office; each workstation gets a SurveyAnswer."""

    __tablename__ = "survey"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    year: Mapped[int]
    title: Mapped[str] = mapped_column(String(200))
    questions: Mapped[list[Any]] = mapped_column(default=list)  # [{"key": "q1", "text": ..., "kind": "rating"}]
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by: Mapped[uuid.UUID | None] = mapped_column(default=None)


class SurveyAnswer(Base, Synced):
    """One workstation's answer to a questionnaire: made at the hub when it is sent (with the questions, since the
    spoke holds no Survey), answered at the workstation's spoke, offline if need be, and synced back."""

    __tablename__ = "survey_answer"
    __table_args__ = (UniqueConstraint("survey_id", "node_id", name="uq_survey_answer_survey_id_node_id"),
                      Index("ix_survey_answer_node_id_version", "node_id", "version", "id"))

    survey_id: Mapped[uuid.UUID] = mapped_column(index=True)
    title: Mapped[str] = mapped_column(String(200))
    questions: Mapped[list[Any]] = mapped_column(default=list)
    ratings: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"q1": 1..5}
    comment: Mapped[str] = mapped_column(Text, default="")
    answered_at: Mapped[datetime | None] = mapped_column(default=None)
    answered_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
