"""Nodes, police units, the applications that found nodes and the codes that enroll them."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from common.orm import Base, Pushed, Stamped, Synced


class Node(Base, Stamped):
    """hub → sub-centers → workstations; the id is a readable code such as `sc-shanghai`."""

    __tablename__ = "node"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # hub / subcenter / workstation
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[str | None] = mapped_column(String(64), ForeignKey("node.id"), index=True)
    # Materialised path "/hub/sc-shanghai/ws-demo-1/": a subtree is one prefix.
    path: Mapped[str] = mapped_column(String(512), index=True)
    region_code: Mapped[str] = mapped_column(String(6))
    status: Mapped[str] = mapped_column(String(16), default="active")  # active / suspended / retired
    head_user_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    host_enterprise_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    # The node's WeCom group robot (企业微信群机器人): notices for the node go there too. A secret of sorts (whoever
    # has it can post to the group): shown to the office only.
    webhook_url: Mapped[str | None] = mapped_column(String(500), default=None)


class NodeApplication(Base, Synced, Pushed):
    """A proposed sub-center or workstation with its proposed head (Art. 17(10), 20)."""

    __tablename__ = "node_application"

    kind: Mapped[str] = mapped_column(String(16))  # subcenter / workstation
    name: Mapped[str] = mapped_column(String(200))
    region_code: Mapped[str] = mapped_column(String(6))
    parent_node: Mapped[str] = mapped_column(String(64), ForeignKey("node.id"))
    host_enterprise_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("enterprise.id"), default=None)
    head_name: Mapped[str] = mapped_column(String(100))
    head_phone: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    background: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="submitted", index=True)
    submitted_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    decided_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    decision_comment: Mapped[str] = mapped_column(Text, default="")
    created_node: Mapped[str | None] = mapped_column(String(64), default=None)


class Unit(Base):
    """A police unit of Art. 16 or a police station; reference data."""

    __tablename__ = "unit"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100), default="")
    kind: Mapped[str] = mapped_column(String(16), default="department")  # department / station
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The unit's WeCom group robot: what is dispatched to the unit is posted there as well as to its liaison officers.
    webhook_url: Mapped[str | None] = mapped_column(String(500), default=None)


class EnrollmentCode(Base):
    """A one-time, expiring code that turns a fresh machine into an approved node's spoke; stored as a hash."""

    __tablename__ = "enrollment_code"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    node_id: Mapped[str] = mapped_column(String(64), ForeignKey("node.id"), index=True)
    created_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
