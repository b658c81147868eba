"""The hub's serving hosts as they report themselves: each `lianfu hub serve` writes its row while it runs."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from common.orm import Base, utcnow


class HubHost(Base):
    """One serving hub (a host and its port); not synced: only the hub's own operators read it."""

    __tablename__ = "hub_host"

    # hostname:port — one serving hub per address, so a restart takes its old row over rather than adding one.
    id: Mapped[str] = mapped_column(String(300), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer, default=0)
    pid: Mapped[int] = mapped_column(Integer, default=0)  # the serving process (uvicorn's supervisor with workers)
    workers: Mapped[int] = mapped_column(Integer, default=1)
    version: Mapped[str] = mapped_column(String(64), default="")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
