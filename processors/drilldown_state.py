"""What a queue keeps for the supervisor's drill-down, as plain serialisable data.

Part of :class:`processors.state.QueueState` (its ``drill`` field), so it is written to the
changelog with the rest of the queue's state and a restarted worker shows the same lists. Every
list is bounded by ``engine.drilldown_length`` (N); the caller numbers are kept only for calls
still remembered by the queue (``QueueState.calls``: waiting, or left within the lateness
horizon), which is what "recovered" needs (processors/drilldown.py).
"""

from __future__ import annotations

from msgspec import Struct, field

__all__ = ["AbandonedCall", "AgentDay", "AgentNote", "BlockedCall", "DrillDown"]


class AbandonedCall(Struct, array_like=True, gc=False):
    """One of the last N abandoned calls, ordered by (``at``, ``call_id``)."""

    call_id: str
    at: float
    """When the caller hung up (event time)."""
    wait: float | None = None
    """Seconds waited before hanging up: the source's figure, else hang-up - entry; None while
    neither is known."""
    caller: str | None = None
    recovered_at: float | None = None
    """When the earliest later call of the same caller was answered in this queue (None: not
    recovered, so far)."""


class BlockedCall(Struct, array_like=True, gc=False):
    """One of the last N blocked calls, ordered by (``at``, ``event_id``)."""

    event_id: str
    at: float
    call_id: str
    reason: str


class AgentDay(Struct, array_like=True, gc=False):
    """One agent's calls in this queue on the local day starting at ``day``."""

    day: int
    answered: int = 0
    missed: int = 0
    handled: int = 0
    handle_seconds: float = 0.0


class AgentNote(Struct, array_like=True, gc=False):
    """A state change of an agent that came with a reason (a pause reason)."""

    at: float
    state: str
    reason: str | None = None


class DrillDown(Struct, gc=False):
    callers: dict[str, str] = field(default_factory=dict)
    """Call id -> caller number, for the calls in ``QueueState.calls`` whose entry named one."""
    answers: dict[str, list[float]] = field(default_factory=dict)
    """Caller -> answer times of that caller's calls the queue still remembers (answered within
    the lateness horizon): what a late-completed abandon looks up for "recovered", without a
    scan of every call."""
    abandoned: list[AbandonedCall] = field(default_factory=list)
    blocked: list[BlockedCall] = field(default_factory=list)
    agent_days: dict[str, AgentDay] = field(default_factory=dict)
    reasons: dict[str, list[AgentNote]] = field(default_factory=dict)
    """Per agent, the changes of the retained history that carried a reason (most carry none:
    nothing is kept for them)."""
