"""Case lifecycle: a pure state machine folded over a case's append-only timeline of events (work rules Art. 17–18).

The status is never stored as truth but derived from the events; no database, no HTTP. A refusal is `Forbidden`
when the role may never add the kind (or a liaison acts for a unit not active on the case), `Conflict` when not in
the current state, `InvalidField` when a note, unit or satisfaction is missing. The words and tables it applies
are in common/cases/vocabulary.py.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from common.cases.vocabulary import (ABOUT_UNIT_KINDS, MSG_EXTENSION_PENDING, MSG_NO_EXTENSION, MSG_UNIT_NOT_OWING,
    K, LEADER_KINDS, LIAISON, MSG_ALREADY_ESCALATED, MSG_ALREADY_REPORTED,
    MSG_ALREADY_SIGNED, MSG_JWG_EXISTS, MSG_JWG_NOT_PENDING, MSG_LEADER, MSG_LETTER_REQUIRED, MSG_NOTE_REQUIRED,
    MSG_NOT_ALL_REPORTED, MSG_NOT_EMERGENCY, MSG_NOT_FILED, MSG_NOT_SIGNED, MSG_NOT_YOUR_CASE, MSG_OWN_UNIT,
    MSG_ROLE, MSG_SATISFACTION, MSG_STATUS, MSG_UNIT_ACTIVE, MSG_UNIT_REQUIRED, MSG_UNKNOWN_KIND, NOTE_KINDS, OFFICE,
    OPEN, ROLE_KINDS, S, SATISFACTION_RANGE, TRANSITIONS, UNIT_KINDS, EventKind, JointGroup, Status)
from common.errors import Conflict, DomainError, Forbidden, InvalidField


@dataclass(frozen=True)
class Actor:
    """Who adds an event: `unit` for a liaison, `leader` for a leader of the office."""

    role: str
    unit: str | None = None
    leader: bool = False


@dataclass(frozen=True)
class EventRecord:
    """One event of a case's timeline, as the fold needs it.

    `kind` may be a plain string (rows from the database, or from a newer node that knows more
    kinds); unknown kinds are refused by `check()` and ignored by `fold()`. For signed /
    returned / reported, `unit` is the acting unit (`actor_unit` is the fallback for older rows).
    """

    kind: EventKind | str
    unit: str | None = None
    note: str | None = None
    satisfaction: int | None = None
    actor_role: str | None = None
    actor_unit: str | None = None

    @classmethod
    def by(cls, actor: Actor, kind: EventKind | str, *, unit: str | None = None, note: str | None = None,
           satisfaction: int | None = None) -> "EventRecord":
        """The event as it should be stored when `actor` adds it: the acting unit filled in, text stripped."""
        if _kind(kind) in UNIT_KINDS and unit is None:
            unit = actor.unit
        return cls(kind=_kind(kind) or kind, unit=_clean(unit), note=_clean(note), satisfaction=satisfaction,
                   actor_role=actor.role, actor_unit=actor.unit)


@dataclass(frozen=True)
class UnitAssignment:
    """A unit dispatched to the case. A re-dispatch (after a return) replaces it with a later order."""

    unit: str
    dispatch_order: int
    active: bool = True
    signed: bool = False
    reported: bool = False
    lead: bool = False
    extension_pending: bool = False  # the unit asked for more time; the office has not decided yet


@dataclass(frozen=True)
class CaseState:
    """What the timeline adds up to. `units` is in dispatch order, one entry per unit.

    `ignored` holds the positions (0-based) of timeline events that `fold()` skipped because
    the state at that point refused them (see `fold`).
    """

    status: Status = Status.SUBMITTED
    units: tuple[UnitAssignment, ...] = ()
    emergency: bool = False
    jwg: JointGroup = JointGroup.NONE
    satisfaction: int | None = None  # of the latest callback
    ignored: tuple[int, ...] = ()

    @property
    def active_units(self) -> tuple[UnitAssignment, ...]:
        return tuple(u for u in self.units if u.active)

    @property
    def lead_unit(self) -> str | None:
        return next((u.unit for u in self.units if u.lead), None)

    def unit(self, unit: str | None) -> UnitAssignment | None:
        return next((u for u in self.units if u.unit == unit), None) if unit else None


# ── Checking ────────────────────────────────────────────────────────────────────────────────


def actor_kinds(actor: Actor) -> frozenset[EventKind]:
    """Every kind this actor's role may ever add (before looking at the case)."""
    kinds = ROLE_KINDS.get(actor.role, frozenset())
    if actor.role == OFFICE and actor.leader:
        kinds = kinds | LEADER_KINDS
    return kinds


def check(state: CaseState, actor: Actor, event: EventRecord) -> None:
    """Raise `Forbidden`, `Conflict` or `InvalidField` if `actor` may not add `event` now; write nothing.

    Order: the role (403), then the state (409), then the fields (422), so that a button the
    page should not have shown is never answered with "fill in the note".
    """
    kind = _kind(event.kind)
    if kind is None:
        raise InvalidField("kind", MSG_UNKNOWN_KIND, kind=str(event.kind))
    _check_role(actor, kind, event)
    refusal = _refusal(state, kind, _acting_unit(kind, event, actor), as_liaison=actor.role == LIAISON)
    if refusal is not None:
        raise refusal
    _check_fields(kind, event)


def allowed_kinds(state: CaseState, actor: Actor) -> list[EventKind]:
    """The kinds `actor` may add now (the buttons to show), in `EventKind` order.

    Fields are not looked at: dispatched is offered whenever the status admits a dispatch;
    which unit (one not already active) is the form's business, and `check()` refuses the rest.
    """
    allowed = []
    for kind in EventKind:
        try:
            _check_role(actor, kind, EventRecord(kind))
        except Forbidden:
            continue
        unit = _acting_unit(kind, EventRecord(kind), actor)
        if _refusal(state, kind, unit, as_liaison=actor.role == LIAISON) is None:
            allowed.append(kind)
    return allowed


def _check_role(actor: Actor, kind: EventKind, event: EventRecord) -> None:
    if kind not in actor_kinds(actor):
        if kind in LEADER_KINDS and actor.role == OFFICE:
            raise Forbidden(MSG_LEADER, kind=kind.value)
        raise Forbidden(MSG_ROLE, kind=kind.value, role=actor.role)
    # A liaison cannot sign, return or report on behalf of another unit.
    if kind in UNIT_KINDS and event.unit is not None and event.unit != actor.unit:
        raise Forbidden(MSG_OWN_UNIT, unit=event.unit)


def _acting_unit(kind: EventKind, event: EventRecord, actor: Actor | None = None) -> str | None:
    if kind in UNIT_KINDS:
        if actor is not None:
            return actor.unit
        return event.unit or event.actor_unit
    if kind == K.DISPATCHED or kind in ABOUT_UNIT_KINDS:
        return _clean(event.unit)
    if kind == K.COMMENT and actor is not None:
        return actor.unit
    return None


def _refusal(state: CaseState, kind: EventKind, unit: str | None, *, as_liaison: bool = False) -> DomainError | None:
    """Why the state refuses `kind` (acted by `unit`, for the unit kinds), or None. Raises nothing.

    A liaison acts on a case only through a unit that is dispatched and active on it, so with
    `as_liaison` even a comment is refused (Forbidden) for any other unit.
    """
    if kind in UNIT_KINDS or (as_liaison and kind == K.COMMENT):
        assignment = state.unit(unit)
        if assignment is None or not assignment.active:
            return Forbidden(MSG_NOT_YOUR_CASE, unit=unit)
    if state.status not in TRANSITIONS[kind]:
        return Conflict(_status_message(state, kind), kind=kind.value, status=state.status.value)
    assignment = state.unit(unit)
    if kind == K.DISPATCHED:
        if assignment is not None and assignment.active:
            return Conflict(MSG_UNIT_ACTIVE, unit=unit)
    elif kind == K.SIGNED:
        if assignment is not None and assignment.signed:
            return Conflict(MSG_ALREADY_SIGNED, unit=unit)
    elif kind == K.RETURNED:
        if assignment is not None and assignment.reported:
            return Conflict(MSG_ALREADY_REPORTED, unit=unit)
    elif kind == K.REPORTED:
        if assignment is not None and assignment.reported:
            return Conflict(MSG_ALREADY_REPORTED, unit=unit)
        if assignment is not None and not assignment.signed:
            return Conflict(MSG_NOT_SIGNED, unit=unit)
    elif kind == K.EXTENSION_REQUESTED:
        if assignment is not None and assignment.reported:
            return Conflict(MSG_ALREADY_REPORTED, unit=unit)
        if assignment is not None and assignment.extension_pending:
            return Conflict(MSG_EXTENSION_PENDING, unit=unit)
    elif kind in (K.EXTENSION_APPROVED, K.EXTENSION_REJECTED):
        # No unit named (the buttons to offer): whether any unit's request awaits a decision.
        candidates = [assignment] if unit is not None else list(state.units)
        if not any(a is not None and a.active and a.extension_pending for a in candidates):
            return Conflict(MSG_NO_EXTENSION, unit=unit)
    elif kind in (K.URGED, K.SUPERVISED):
        candidates = [assignment] if unit is not None else list(state.units)
        if not any(a is not None and a.active and not a.reported for a in candidates):
            return Conflict(MSG_UNIT_NOT_OWING, unit=unit)
    elif kind == K.FILED:
        # The status table says "reported"; this guards a state built by hand.
        if not state.active_units or not all(u.reported for u in state.active_units):
            return Conflict(MSG_NOT_ALL_REPORTED)
    elif kind == K.ESCALATED:
        if state.emergency:
            return Conflict(MSG_ALREADY_ESCALATED)
    elif kind == K.JWG_REQUESTED:
        if not state.emergency:
            return Conflict(MSG_NOT_EMERGENCY)
        if state.jwg not in (JointGroup.NONE, JointGroup.REJECTED):
            return Conflict(MSG_JWG_EXISTS, jwg=state.jwg.value)
    elif kind in (K.JWG_APPROVED, K.JWG_REJECTED):
        if state.jwg != JointGroup.REQUESTED:
            return Conflict(MSG_JWG_NOT_PENDING, jwg=state.jwg.value)
    return None


def _status_message(state: CaseState, kind: EventKind) -> str:
    """A message that says what is missing, where one helps more than "not in this status"."""
    if kind == K.FILED and state.status in OPEN:
        return MSG_NOT_ALL_REPORTED
    if kind == K.CALLBACK:
        return MSG_NOT_FILED
    if kind == K.SIGNED and state.status == S.REPORTED:
        return MSG_ALREADY_SIGNED
    if kind in (K.RETURNED, K.REPORTED) and state.status == S.REPORTED:
        return MSG_ALREADY_REPORTED
    if kind == K.REPORTED and state.status == S.DISPATCHED:
        return MSG_NOT_SIGNED
    return MSG_STATUS


def _check_fields(kind: EventKind, event: EventRecord) -> None:
    if (kind == K.DISPATCHED or kind in ABOUT_UNIT_KINDS) and not _clean(event.unit):
        raise InvalidField("unit", MSG_UNIT_REQUIRED)
    if kind in NOTE_KINDS and not _clean(event.note):
        raise InvalidField("note", MSG_LETTER_REQUIRED if kind == K.TRANSFERRED else MSG_NOTE_REQUIRED)
    if kind == K.CALLBACK and not _valid_satisfaction(event.satisfaction):
        raise InvalidField("satisfaction", MSG_SATISFACTION)


def _valid_satisfaction(value: object) -> bool:
    # bool is an int in Python; True is not a score.
    return isinstance(value, int) and not isinstance(value, bool) and value in SATISFACTION_RANGE


# ── Applying ────────────────────────────────────────────────────────────────────────────────


def apply(state: CaseState, event: EventRecord) -> CaseState:
    """The state after `event`; pure. Raises the refusal (`Conflict` / `Forbidden`) if the state
    refuses it, but checks neither the role nor the fields: that is `check()`'s job."""
    kind = _kind(event.kind)
    if kind is None:
        raise InvalidField("kind", MSG_UNKNOWN_KIND, kind=str(event.kind))
    unit = _acting_unit(kind, event)
    if kind in (K.DISPATCHED, *UNIT_KINDS, *ABOUT_UNIT_KINDS) and not unit:
        raise InvalidField("unit", MSG_UNIT_REQUIRED)
    refusal = _refusal(state, kind, unit)
    if refusal is not None:
        raise refusal
    return _settle(_transition(state, kind, unit, event))


def fold(events: Iterable[EventRecord]) -> CaseState:
    """The state of a case from its timeline, events applied in order. Never raises.

    Timelines merged from two nodes can hold an event the state no longer admits at its place (a unit returned the
    case on one node while it reported on another): it is skipped and its position kept in `CaseState.ignored`, so
    one timeline always folds to one state and the case stays readable.
    """
    state = CaseState()
    ignored: list[int] = []
    for position, event in enumerate(events):
        try:
            state = apply(state, event)
        except DomainError:
            ignored.append(position)
    return replace(state, ignored=tuple(ignored))


def add_event(events: Sequence[EventRecord], actor: Actor, event: EventRecord) -> CaseState:
    """Check that `actor` may add `event` to the timeline `events`, and return the state after it.

    Raises as `check()` does; on success the caller stores `EventRecord.by(actor, ...)`
    (the same event, with the acting unit filled in) and nothing else.
    """
    state = fold(events)
    check(state, actor, event)
    kind = _kind(event.kind)
    if kind in UNIT_KINDS and event.unit is None:
        event = replace(event, unit=actor.unit)
    return apply(state, event)


def _transition(state: CaseState, kind: EventKind, unit: str | None, event: EventRecord) -> CaseState:
    if kind == K.ACCEPTED:
        return replace(state, status=S.ACCEPTED)
    if kind == K.DISPATCHED:
        assert unit is not None
        order = max((u.dispatch_order for u in state.units), default=-1) + 1
        # A unit that returned the case loses its old assignment: it starts afresh, behind the others.
        kept = tuple(u for u in state.units if u.unit != unit)
        return replace(state, units=kept + (UnitAssignment(unit, order),))
    if kind == K.SIGNED:
        return _update_unit(state, unit, signed=True)
    if kind == K.RETURNED:
        return _update_unit(state, unit, active=False, lead=False)
    if kind == K.REPORTED:
        return _update_unit(state, unit, reported=True)
    if kind == K.EXTENSION_REQUESTED:
        return _update_unit(state, unit, extension_pending=True)
    if kind in (K.EXTENSION_APPROVED, K.EXTENSION_REJECTED):
        return _update_unit(state, unit, extension_pending=False)
    if kind == K.FILED:
        return replace(state, status=S.FILED)
    if kind == K.ESCALATED:
        return replace(state, emergency=True)
    if kind == K.JWG_REQUESTED:
        return replace(state, jwg=JointGroup.REQUESTED)
    if kind == K.JWG_APPROVED:
        return replace(state, jwg=JointGroup.APPROVED)
    if kind == K.JWG_REJECTED:
        return replace(state, jwg=JointGroup.REJECTED)
    if kind == K.TRANSFERRED:
        return replace(state, status=S.TRANSFERRED)
    if kind == K.CALLBACK:
        satisfaction = event.satisfaction if _valid_satisfaction(event.satisfaction) else None
        return replace(state, status=S.CLOSED, satisfaction=satisfaction)
    if kind == K.REOPENED:
        # The history stays in the timeline; every unit stands down so the office re-dispatches.
        units = tuple(replace(u, active=False, lead=False) for u in state.units)
        return replace(state, status=S.REOPENED, units=units)
    return state  # comment, urged, supervised


def _update_unit(state: CaseState, unit: str | None, **changes: bool) -> CaseState:
    return replace(state, units=tuple(replace(u, **changes) if u.unit == unit else u for u in state.units))


def _settle(state: CaseState) -> CaseState:
    """Recompute what follows from the units: the lead, and the status while the case is open."""
    # The lead is the earliest-dispatched active unit: it passes on in dispatch order when the lead returns.
    lead = next((u.unit for u in state.units if u.active), None)
    units = tuple(u if u.lead == (u.unit == lead) else replace(u, lead=u.unit == lead) for u in state.units)
    state = replace(state, units=units)
    if state.status not in OPEN:
        return state
    active = state.active_units
    if not active:
        status = S.ACCEPTED
    elif all(u.reported for u in active):
        status = S.REPORTED
    elif any(u.signed for u in active):
        status = S.HANDLING
    else:
        status = S.DISPATCHED
    return replace(state, status=status)


def _kind(kind: EventKind | str) -> EventKind | None:
    try:
        return EventKind(kind)
    except ValueError:
        return None


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    text = text.strip()
    return text or None
