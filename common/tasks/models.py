"""Tasks (Art. 17(11), 18(1)): work given to a unit, a node or a person with a due day — the month's collection of
risk information, a quarter's written summary, a joint meeting's resolution, a leader's assignment — and its
feedback. A task lives at its owner's node (`node_id`; a unit's at the hub), so it reaches the owner's spoke."""
from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from common.orm import Base, Pushed, Synced


class Task(Base, Synced, Pushed):
    __tablename__ = "task"
    __table_args__ = (
        # A task the cycle makes once per owner and period (its key), however often the job runs.
        UniqueConstraint("cycle_key", name="uq_task_cycle_key"),
        Index("ix_task_status_due", "status", "due"),
    )

    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    # Exactly one owner: a police unit, a node (its head and people), or one person.
    owner_unit: Mapped[str | None] = mapped_column(String(64), ForeignKey("unit.id"), default=None, index=True)
    owner_node: Mapped[str | None] = mapped_column(String(64), ForeignKey("node.id"), default=None)
    owner_user: Mapped[uuid.UUID | None] = mapped_column(default=None, index=True)
    due: Mapped[date | None] = mapped_column(default=None)
    # collection (the month's risk information), summary (a quarter's written summary), resolution (a joint
    # meeting's), leader (assigned by a leader), other.
    source: Mapped[str] = mapped_column(String(16), default="other")
    # open -> submitted (the owner's feedback) -> done (accepted by the office); cancelled.
    status: Mapped[str] = mapped_column(String(16), default="open")
    feedback: Mapped[str] = mapped_column(Text, default="")
    feedback_at: Mapped[datetime | None] = mapped_column(default=None)
    # The office's word on the feedback: why it went back, or a note on accepting or cancelling.
    comment: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    # Where it came from: the meeting whose resolution it is, the report that asked for it, the period it covers.
    meeting_id: Mapped[uuid.UUID | None] = mapped_column(default=None, index=True)
    report_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    period: Mapped[str | None] = mapped_column(String(16), default=None)
    cycle_key: Mapped[str | None] = mapped_column(String(120), default=None)
