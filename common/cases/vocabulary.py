"""What a case can be and what may happen to it: its statuses, the kinds of event, which role may add which kind and
in which status, and the words for each (English msgids). The machine that applies them is common/cases/lifecycle.py."""
from __future__ import annotations

from enum import StrEnum

from common.i18n import N_


class Status(StrEnum):
    """Derived status of a case (the `status` field of the API, read-only)."""

    SUBMITTED = "submitted"      # no events yet
    ACCEPTED = "accepted"        # accepted by the office; no unit active
    DISPATCHED = "dispatched"    # units assigned, none of the active ones has signed
    HANDLING = "handling"        # at least one active unit has signed
    REPORTED = "reported"        # every active unit has reported back
    FILED = "filed"              # 备案 by the office
    CLOSED = "closed"            # after a callback (回访)
    TRANSFERRED = "transferred"  # to the police where it happened
    REOPENED = "reopened"        # after filing or closing; the office accepts it again


class EventKind(StrEnum):
    """Kinds of case events (CONTRACT.md: `POST /api/v1/cases/{id}/events`)."""

    ACCEPTED = "accepted"
    DISPATCHED = "dispatched"
    SIGNED = "signed"
    RETURNED = "returned"
    REPORTED = "reported"
    FILED = "filed"
    ESCALATED = "escalated"
    JWG_REQUESTED = "jwg_requested"
    JWG_APPROVED = "jwg_approved"
    JWG_REJECTED = "jwg_rejected"
    TRANSFERRED = "transferred"
    COMMENT = "comment"
    CALLBACK = "callback"
    REOPENED = "reopened"
    # A unit asks for more time to report back; the office decides (common/cases/deadlines.py).
    EXTENSION_REQUESTED = "extension_requested"
    EXTENSION_APPROVED = "extension_approved"
    EXTENSION_REJECTED = "extension_rejected"
    # 催办 and 督办 of a unit: by the office on the case's page, or by the hub's escalation job (common/cases/escalation.py).
    URGED = "urged"
    SUPERVISED = "supervised"


class JointGroup(StrEnum):
    """Joint working group (联合工作组) of a case under the emergency plan."""

    NONE = "none"
    REQUESTED = "requested"
    APPROVED = "approved"
    # Not agreed by the leader: the office may ask again (a new request) once the situation is clearer.
    REJECTED = "rejected"


OFFICE = "office"
LIAISON = "liaison"
SUBCENTER = "subcenter"
ENTERPRISE = "enterprise"
# The hub's own jobs (the escalation job): no account, no node but the hub's.
SYSTEM = "system"
ROLES = (OFFICE, LIAISON, SUBCENTER, ENTERPRISE)

S, K = Status, EventKind

# Statuses in which the case is being worked on; only there is the status derived from the units.
OPEN = frozenset({S.ACCEPTED, S.DISPATCHED, S.HANDLING, S.REPORTED})

# ── Who may add which kind, ever ────────────────────────────────────────────────────────────
ROLE_KINDS: dict[str, frozenset[EventKind]] = {
    OFFICE: frozenset({
        K.ACCEPTED, K.DISPATCHED, K.FILED,
        K.ESCALATED, K.JWG_REQUESTED,
        K.TRANSFERRED, K.COMMENT, K.CALLBACK, K.REOPENED,
        K.EXTENSION_APPROVED, K.EXTENSION_REJECTED, K.URGED, K.SUPERVISED,
    }),
    LIAISON: frozenset({K.SIGNED, K.RETURNED, K.REPORTED, K.COMMENT, K.EXTENSION_REQUESTED}),
    SYSTEM: frozenset({K.URGED, K.SUPERVISED}),
    SUBCENTER: frozenset({K.COMMENT, K.CALLBACK, K.REOPENED}),
    ENTERPRISE: frozenset({K.COMMENT, K.CALLBACK, K.REOPENED}),
}
# Added to an office actor with the leader flag only (Art. 18: 经警企联服中心领导同意).
LEADER_KINDS: frozenset[EventKind] = frozenset({K.JWG_APPROVED, K.JWG_REJECTED})

# Kinds a liaison adds for their own unit; the unit of the event is the actor's unit.
UNIT_KINDS: frozenset[EventKind] = frozenset({K.SIGNED, K.RETURNED, K.REPORTED, K.EXTENSION_REQUESTED})
# Kinds the office (or the system) adds about one unit on the case, named in the event's `unit`.
ABOUT_UNIT_KINDS: frozenset[EventKind] = frozenset({K.EXTENSION_APPROVED, K.EXTENSION_REJECTED, K.URGED, K.SUPERVISED})

# ── In which statuses each kind may be added ─────────────────────────────────────────────────
# Unit conditions (which unit is active, signed, reported) and the emergency / joint working
# group conditions are checked on top of this table, in `_refusal()`.
TRANSITIONS: dict[EventKind, frozenset[Status]] = {
    K.ACCEPTED:      frozenset({S.SUBMITTED, S.REOPENED}),                           # → accepted
    K.DISPATCHED:    frozenset({S.ACCEPTED, S.DISPATCHED, S.HANDLING, S.REPORTED}),  # → dispatched, or handling if an active unit signed
    K.SIGNED:        frozenset({S.DISPATCHED, S.HANDLING}),                          # → handling
    K.RETURNED:      frozenset({S.DISPATCHED, S.HANDLING}),                          # unit inactive; → accepted if none is left
    K.REPORTED:      frozenset({S.HANDLING}),                                        # → reported once every active unit has
    K.FILED:         frozenset({S.REPORTED}),                                        # → filed
    K.ESCALATED:     frozenset({S.ACCEPTED, S.DISPATCHED, S.HANDLING, S.REPORTED}),  # emergency, once; status unchanged
    K.JWG_REQUESTED: frozenset({S.ACCEPTED, S.DISPATCHED, S.HANDLING, S.REPORTED}),  # needs emergency; unchanged
    K.JWG_APPROVED:  frozenset({S.ACCEPTED, S.DISPATCHED, S.HANDLING, S.REPORTED}),  # needs a pending request; unchanged
    K.JWG_REJECTED:  frozenset({S.ACCEPTED, S.DISPATCHED, S.HANDLING, S.REPORTED}),  # needs a pending request; unchanged
    K.TRANSFERRED:   frozenset({S.ACCEPTED, S.DISPATCHED, S.HANDLING}),              # → transferred
    K.COMMENT:       frozenset(Status),                                              # unchanged
    K.CALLBACK:      frozenset({S.FILED}),                                           # → closed
    K.REOPENED:      frozenset({S.FILED, S.CLOSED}),                                 # → reopened; every unit stands down
    K.EXTENSION_REQUESTED: frozenset({S.DISPATCHED, S.HANDLING}),                    # the unit has not reported; none pending
    K.EXTENSION_APPROVED:  frozenset({S.DISPATCHED, S.HANDLING, S.REPORTED}),        # needs the unit's pending request
    K.EXTENSION_REJECTED:  frozenset({S.DISPATCHED, S.HANDLING, S.REPORTED}),        # needs the unit's pending request
    K.URGED:         frozenset({S.DISPATCHED, S.HANDLING, S.REPORTED}),              # an active unit that has not reported
    K.SUPERVISED:    frozenset({S.DISPATCHED, S.HANDLING, S.REPORTED}),              # an active unit that has not reported
}

# Kinds that need a note; transferred's note records the cooperation letter (协作函).
NOTE_KINDS: frozenset[EventKind] = frozenset({K.RETURNED, K.REPORTED, K.TRANSFERRED, K.COMMENT, K.JWG_REJECTED,
                                              K.EXTENSION_REQUESTED})

SATISFACTION_RANGE = range(1, 6)

STATUS_LABELS: dict[Status, str] = {
    S.SUBMITTED: N_("Submitted"),
    S.ACCEPTED: N_("Accepted"),
    S.DISPATCHED: N_("Dispatched"),
    S.HANDLING: N_("Handling"),
    S.REPORTED: N_("Reported"),
    S.FILED: N_("Filed"),
    S.CLOSED: N_("Closed"),
    S.TRANSFERRED: N_("Transferred"),
    S.REOPENED: N_("Reopened"),
}

# Verbs, not participles: the catalog is keyed by msgid alone, and "Accepted" is a status.
KIND_LABELS: dict[EventKind, str] = {
    K.ACCEPTED: N_("Accept"),
    K.DISPATCHED: N_("Dispatch"),
    K.SIGNED: N_("Sign for"),
    K.RETURNED: N_("Return"),
    K.REPORTED: N_("Report back"),
    K.FILED: N_("File"),
    K.ESCALATED: N_("Start emergency plan"),
    K.JWG_REQUESTED: N_("Request joint working group"),
    K.JWG_APPROVED: N_("Approve joint working group"),
    K.JWG_REJECTED: N_("Reject joint working group"),
    K.TRANSFERRED: N_("Transfer"),
    K.COMMENT: N_("Comment"),
    K.CALLBACK: N_("Callback"),
    K.REOPENED: N_("Reopen"),
    K.EXTENSION_REQUESTED: N_("Ask for more time"),
    K.EXTENSION_APPROVED: N_("Grant more time"),
    K.EXTENSION_REJECTED: N_("Refuse more time"),
    K.URGED: N_("Urge the unit"),
    K.SUPERVISED: N_("Supervise the unit"),
}

JOINT_GROUP_LABELS: dict[JointGroup, str] = {
    JointGroup.NONE: N_("No joint working group"),
    JointGroup.REQUESTED: N_("Joint working group requested"),
    JointGroup.APPROVED: N_("Joint working group approved"),
    JointGroup.REJECTED: N_("Joint working group not approved"),
}

# Refusal messages (English msgids; translated when the problem is rendered).
MSG_ROLE = N_("Your role may not record this event.")
MSG_LEADER = N_("Only a leader of the center may approve or reject a joint working group.")
MSG_NOT_YOUR_CASE = N_("Your unit is not handling this case.")
MSG_OWN_UNIT = N_("You may only act for your own unit.")
MSG_STATUS = N_("This event is not possible in the case's current status.")
MSG_UNIT_ACTIVE = N_("This unit is already handling the case.")
MSG_ALREADY_SIGNED = N_("Your unit has already signed for this case.")
MSG_NOT_SIGNED = N_("Your unit must sign for the case before reporting back.")
MSG_ALREADY_REPORTED = N_("Your unit has already reported back on this case.")
MSG_NOT_ALL_REPORTED = N_("Every dispatched unit must report back before the case is filed.")
MSG_NOT_FILED = N_("A callback is only possible once the case is filed.")
MSG_ALREADY_ESCALATED = N_("The emergency plan has already been started for this case.")
MSG_NOT_EMERGENCY = N_("A joint working group needs the emergency plan to be started first.")
MSG_JWG_EXISTS = N_("A joint working group has already been requested for this case.")
MSG_JWG_NOT_PENDING = N_("No joint working group request is awaiting approval.")
MSG_NOTE_REQUIRED = N_("A note is required.")
MSG_LETTER_REQUIRED = N_("A note recording the cooperation letter is required.")
MSG_UNIT_REQUIRED = N_("A unit is required.")
MSG_SATISFACTION = N_("Satisfaction must be a whole number from 1 to 5.")
MSG_UNKNOWN_KIND = N_("Unknown event kind.")
MSG_EXTENSION_PENDING = N_("This unit's request for more time is already awaiting a decision.")
MSG_NO_EXTENSION = N_("This unit has no request for more time awaiting a decision.")
MSG_UNTIL_REQUIRED = N_("Give the new date for the report back, as YYYY-MM-DD.")
MSG_UNIT_NOT_OWING = N_("This unit is not handling the case or has already reported back.")
