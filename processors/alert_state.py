"""What the alert state machine (processors/alerts.py) keeps and reports: an alert's state per
(rule, queue) and its fingerprint, silences, the transitions it returns, and the evaluator's
state as a whole and as bytes (a restarted or rebalanced worker restores it)."""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Sequence
from typing import Literal

import msgspec
from msgspec import Struct, field

from processors.alert_rules import Severity

__all__ = [
    "AlertState",
    "AlertStatus",
    "AlertTransition",
    "EvaluatorState",
    "Silence",
    "decode_alert_states",
    "encode_alert_states",
    "fingerprint",
    "transition_id",
]

AlertStatus = Literal["inactive", "pending", "firing", "resolved"]


def fingerprint(rule: str, queue: str) -> str:
    """A stable id of the alert of ``rule`` on ``queue``: the same in every process and run, and
    for the alert's whole life (escalation does not change it)."""
    return hashlib.sha256(f"{rule}\x1f{queue}".encode()).hexdigest()[:16]


def transition_id(
    fingerprint_: str, state: str, severity: str, fired_at: float | None, at: float
) -> str:
    """The id of one transition, the idempotency key of what it notifies: the same for every
    delivery attempt and every worker. A firing (or escalation) is named by the alert, its
    severity and when it began firing; a resolution by the alert and the firing it ends; other
    states by their instant. Deterministic, so a worker that re-evaluates after a crash and
    publishes the same transition again gives it the same id, and a receiver drops the repeat."""
    if state == "firing":
        parts = [fingerprint_, state, severity, repr(fired_at)]
    elif state == "resolved":
        parts = [fingerprint_, state, repr(fired_at)]
    else:
        parts = [fingerprint_, state, repr(at)]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20]


class Silence(Struct, frozen=True, kw_only=True):
    """Suppress notifications of matching alerts between ``starts_at`` and ``ends_at``."""

    id: str
    rule: str = "*"
    """Shell pattern on the rule name."""
    queue: str = "*"
    """Shell pattern on the queue name."""
    starts_at: float
    ends_at: float
    created_by: str
    comment: str = ""

    def matches(self, rule: str, queue: str, at: float) -> bool:
        return (
            self.starts_at <= at < self.ends_at
            and fnmatch.fnmatchcase(rule, self.rule)
            and fnmatch.fnmatchcase(queue, self.queue)
        )


class AlertState(Struct, kw_only=True):
    """The state of one (rule, queue) alert; everything needed to carry on after a restart."""

    rule: str
    queue: str
    state: AlertStatus = "inactive"
    severity: Severity = "warning"
    since: float | None = None
    """When the current state was entered."""
    pending_since: float | None = None
    fired_at: float | None = None
    """When the current (or last) firing began: the alert's ``starts_at``."""
    resolved_at: float | None = None
    """Last resolution: the start of the cooldown."""
    escalated: bool = False
    value: float | None = None
    """The KPI at the last evaluation that had one."""
    evaluated_at: float | None = None
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    silences: list[Silence] = field(default_factory=list)
    """Silences that match this alert (kept with it, so they move with the queue)."""
    notified: bool = False
    """Set by the caller once receivers were told it fires (so a restart does not tell them
    again, and a resolution is only sent for an alert whose firing was)."""
    notified_at: float | None = None
    """Wall-clock time of that first notification: the alert's start as receivers know it."""

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rule, self.queue)

    def silenced_by(self, at: float) -> Silence | None:
        for silence in self.silences:
            if silence.matches(self.rule, self.queue, at):
                return silence
        return None


class AlertTransition(Struct, frozen=True, kw_only=True):
    """One change of one alert: what receivers are told and what goes on the alerts topic."""

    fingerprint: str
    rule: str
    queue: str
    severity: Severity
    state: AlertStatus
    previous: AlertStatus
    value: float | None
    threshold: float
    """``fire`` for pending/firing, ``clear`` for resolved (the threshold that was crossed)."""
    at: float
    summary: str
    runbook_url: str | None
    labels: dict[str, str]
    kpi: str
    window: str | None
    fired_at: float | None = None
    """When the alert began firing (None before it ever fired)."""
    escalated: bool = False
    """True on the firing -> firing transition of an escalation to critical."""
    acknowledged: bool = False
    silenced: bool = False
    id: str = ""
    """:func:`transition_id`: the idempotency key of its notification."""

    @property
    def notifies(self) -> bool:
        """Firing (incl. escalation) and resolved transitions are sent to receivers."""
        return self.state in ("firing", "resolved")


class EvaluatorState(Struct, kw_only=True):
    alerts: list[AlertState] = field(default_factory=list)
    silences: list[Silence] = field(default_factory=list)


_states_encoder = msgspec.msgpack.Encoder()
_states_decoder = msgspec.msgpack.Decoder(list[AlertState])


def encode_alert_states(states: Sequence[AlertState]) -> bytes:
    return _states_encoder.encode(list(states))


def decode_alert_states(data: bytes) -> list[AlertState]:
    return _states_decoder.decode(data)
