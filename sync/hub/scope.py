"""What a spoke's scope is at the hub, and the kinds of rows that travel with others."""
from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from common import policy
from common.policy import Principal

# The modulus of a digest's checksum of versions (the marks' triggers use the same).
CHECKSUM_MODULUS = 2_147_483_647
# After every row of a version (the position of rows known only by their newest version: see marks.read_marks).
MAX_ID = uuid.UUID(int=2**128 - 1)
APPEND_ONLY_ROLES = {"office", "liaison", "subcenter", "enterprise"}
# Rows that follow their enterprise when it moves to another node, though their writers may not move them otherwise.
FOLLOWERS = frozenset({"case_record", "case_event"})
# Rows of an enterprise's file: they go where it goes (common/roster/service.py move_file).
FILE = frozenset({"person", "visit", "info_report", "case_record", "case_event", "attachment"})
# Entities whose rows reach a spoke by their audience, not by the node that holds them (bulletins, held by the hub).
BY_AUDIENCE = frozenset({"bulletin"})


def spoke_principal(session: Session, node_id: str) -> Principal:
    """The scope of a spoke: its node and every node below it."""
    return policy.principal_at(session, None, f"node:{node_id}", "spoke", node_id)
