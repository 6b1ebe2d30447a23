"""The alert state machine: per (rule, queue), inactive -> pending -> firing -> resolved.

:class:`AlertEvaluator` is fed :class:`processors.snapshot.QueueSnapshot` objects at an instant
and returns the :class:`AlertTransition` objects that happened. It is pure and deterministic
(time is always passed in), so the worker, a backtest over a replayed day and the unit tests run
the same code. Per rule and queue (see processors/alert_rules.py for the thresholds):

* **inactive / resolved -> pending** when the KPI is past ``fire`` (and the window holds at
  least ``min_volume``);
* **pending -> inactive** as soon as it is not (the condition must hold *continuously*);
* **pending -> firing** once it has held for ``for_seconds`` and the ``cooldown_seconds`` since
  the last resolution have passed (a flapping KPI pages at most once per cooldown);
* **firing -> firing (escalated)** when a warning has fired for ``escalate_after_seconds``: the
  severity becomes critical;
* **firing -> resolved** only when the KPI is back past ``clear`` (hysteresis).

Below ``min_volume``, or when the KPI has no value (empty denominator), nothing is evaluated: a
pending alert goes back to inactive (its condition was not seen to hold) and a firing one stays
firing (nothing shows it recovered).

State is a plain msgspec struct per alert (:class:`AlertState`); :meth:`AlertEvaluator.state`
and :meth:`AlertEvaluator.restore` round-trip it (as a whole or per queue), so a restarted or
rebalanced worker carries on mid-pending or mid-firing without paging again. Acknowledgements
and silences are flags on the alert: they change what is *notified*, never what is evaluated.
The state's types are in processors/alert_state.py (re-exported here with the evaluator).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence

import msgspec

from processors.alert_rules import AlertRule, render_summary, rule_value, rule_volume
from processors.alert_state import (
    AlertState,
    AlertStatus,
    AlertTransition,
    EvaluatorState,
    Silence,
    decode_alert_states,
    encode_alert_states,
    fingerprint,
    transition_id,
)
from processors.snapshot import QueueSnapshot

__all__ = [
    "AlertEvaluator",
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


class AlertEvaluator:
    """Evaluates ``rules`` on queue snapshots; holds the state of every (rule, queue) alert."""

    def __init__(self, rules: Sequence[AlertRule]) -> None:
        self.rules: dict[str, AlertRule] = {rule.name: rule for rule in rules}
        self._rule_names: list[str] = sorted(self.rules)
        self.alerts: dict[tuple[str, str], AlertState] = {}
        self.silences: list[Silence] = []
        """Every silence added in this process, applied to queues seen later too."""
        self._rules_of: dict[str, list[AlertRule]] = {}

    # -- evaluation -----------------------------------------------------------------------------

    def rules_for(self, queue: str) -> list[AlertRule]:
        rules = self._rules_of.get(queue)
        if rules is None:
            rules = self._rules_of[queue] = [
                rule
                for rule in self.rules.values()
                if any(fnmatch.fnmatchcase(queue, pattern) for pattern in rule.queues)
            ]
        return rules

    def evaluate(
        self,
        snapshots: Iterable[QueueSnapshot] | Mapping[str, QueueSnapshot],
        at: float | None = None,
    ) -> list[AlertTransition]:
        """Evaluate every matching rule on each snapshot at ``at`` (default: the snapshot's own
        instant). An instant older than an alert's last evaluation is ignored for that alert."""
        items = snapshots.values() if isinstance(snapshots, Mapping) else snapshots
        out: list[AlertTransition] = []
        for snapshot in items:
            now = snapshot.at if at is None else at
            for rule in self.rules_for(snapshot.queue):
                alert = self._alert(rule, snapshot.queue)
                if alert.evaluated_at is not None and now < alert.evaluated_at:
                    continue
                self._step(rule, alert, snapshot, now, out)
        return out

    def _alert(self, rule: AlertRule, queue: str) -> AlertState:
        key = (rule.name, queue)
        alert = self.alerts.get(key)
        if alert is None:
            alert = self.alerts[key] = AlertState(
                rule=rule.name, queue=queue, severity=rule.severity
            )
            alert.silences = [s for s in self.silences if _may_match(s, rule.name, queue)]
        return alert

    def _step(
        self,
        rule: AlertRule,
        alert: AlertState,
        snapshot: QueueSnapshot,
        at: float,
        out: list[AlertTransition],
    ) -> None:
        alert.evaluated_at = at
        value = rule_value(rule, snapshot)
        volume = rule_volume(rule, snapshot)
        evaluable = value is not None and (
            rule.min_volume <= 0 or volume is None or volume >= rule.min_volume
        )
        if value is not None:
            alert.value = value
        firing_condition = evaluable and value is not None and rule.is_past(value, rule.fire)
        recovered = evaluable and value is not None and not rule.is_past(value, rule.clear)

        if alert.state in ("inactive", "resolved"):
            if not firing_condition:
                return
            alert.pending_since = at
            alert.severity, alert.escalated = rule.severity, False
            self._move(rule, alert, "pending", at, value, out)
        elif alert.state == "pending":
            if not firing_condition:
                alert.pending_since = None
                self._move(rule, alert, "inactive", at, value, out)
                return
        elif alert.state == "firing":
            if recovered:
                alert.resolved_at = at
                self._move(rule, alert, "resolved", at, value, out)
                alert.acknowledged_by = alert.acknowledged_at = None
                return
            if (
                rule.escalate_after_seconds is not None
                and not alert.escalated
                and alert.fired_at is not None
                and at - alert.fired_at >= rule.escalate_after_seconds
            ):
                alert.escalated = True
                alert.severity = "critical"
                out.append(self._transition(rule, alert, "firing", at, value, escalated=True))
            return
        # pending (possibly entered just now): fire when held long enough and out of cooldown
        assert alert.pending_since is not None
        cooled = alert.resolved_at is None or at - alert.resolved_at >= rule.cooldown_seconds
        if at - alert.pending_since >= rule.for_seconds and cooled:
            alert.fired_at = at
            alert.pending_since = None
            self._move(rule, alert, "firing", at, value, out)

    def _move(
        self,
        rule: AlertRule,
        alert: AlertState,
        state: AlertStatus,
        at: float,
        value: float | None,
        out: list[AlertTransition],
    ) -> None:
        transition = self._transition(rule, alert, state, at, value)
        alert.state = state
        alert.since = at
        out.append(transition)

    def _transition(
        self,
        rule: AlertRule,
        alert: AlertState,
        state: AlertStatus,
        at: float,
        value: float | None,
        escalated: bool = False,
    ) -> AlertTransition:
        return AlertTransition(
            fingerprint=alert.fingerprint,
            rule=rule.name,
            queue=alert.queue,
            severity=alert.severity,
            state=state,
            previous=alert.state,
            value=value,
            threshold=rule.clear if state == "resolved" else rule.fire,
            at=at,
            summary=render_summary(rule, alert.queue, value, alert.severity),
            runbook_url=rule.runbook_url,
            labels={"kpi": rule.kpi, "window": rule.window or "live", **rule.labels},
            kpi=rule.kpi,
            window=rule.window,
            fired_at=alert.fired_at if state in ("firing", "resolved") else None,
            escalated=escalated,
            acknowledged=alert.acknowledged_by is not None,
            silenced=alert.silenced_by(at) is not None,
            id=transition_id(
                alert.fingerprint,
                state,
                alert.severity,
                alert.fired_at if state in ("firing", "resolved") else None,
                at,
            ),
        )

    # -- people: acknowledge and silence --------------------------------------------------------

    def acknowledge(self, fingerprint_: str, by: str, at: float) -> AlertState | None:
        """Mark a firing alert acknowledged (until it resolves); None if no such firing alert."""
        for alert in self.alerts.values():
            if alert.fingerprint == fingerprint_ and alert.state == "firing":
                alert.acknowledged_by, alert.acknowledged_at = by, at
                return alert
        return None

    def unsilence(self, silence_id: str) -> None:
        """Drop a silence (expired, tombstoned on the silences topic)."""
        self.silences = [s for s in self.silences if s.id != silence_id]
        for alert in self.alerts.values():
            if alert.silences:
                alert.silences = [s for s in alert.silences if s.id != silence_id]

    def silence(self, silence: Silence) -> list[AlertState]:
        """Add a silence; returns the known alerts it covers now or later."""
        self.silences = [s for s in self.silences if s.id != silence.id] + [silence]
        covered = []
        for alert in self.alerts.values():
            if _may_match(silence, alert.rule, alert.queue):
                alert.silences = [s for s in alert.silences if s.id != silence.id] + [silence]
                covered.append(alert)
        return covered

    def expire_silences(self, at: float) -> None:
        """Forget silences that have ended."""
        self.silences = [s for s in self.silences if s.ends_at > at]
        for alert in self.alerts.values():
            if alert.silences:
                alert.silences = [s for s in alert.silences if s.ends_at > at]

    # -- reading --------------------------------------------------------------------------------

    def firing(self) -> list[tuple[AlertRule, AlertState]]:
        return [
            (self.rules[alert.rule], alert)
            for alert in self.alerts.values()
            if alert.state == "firing" and alert.rule in self.rules
        ]

    def active(self) -> list[tuple[AlertRule, AlertState]]:
        """Pending and firing alerts."""
        return [
            (self.rules[alert.rule], alert)
            for alert in self.alerts.values()
            if alert.state in ("pending", "firing") and alert.rule in self.rules
        ]

    # -- persistence ----------------------------------------------------------------------------

    def state(self) -> EvaluatorState:
        return EvaluatorState(
            alerts=[msgspec.structs.replace(a) for a in self.alerts.values()],
            silences=list(self.silences),
        )

    def restore(self, state: EvaluatorState) -> None:
        """Replace the state with ``state`` (alerts of rules no longer configured are dropped)."""
        self.alerts = {}
        self.silences = list(state.silences)
        for alert in state.alerts:
            if alert.rule in self.rules:
                self.alerts[(alert.rule, alert.queue)] = msgspec.structs.replace(alert)

    def queue_state(self, queue: str) -> list[AlertState]:
        """The alerts of one queue that are worth keeping (not plain inactive ones), by rule
        name. Looked up rule by rule (every alert is of a configured rule: :meth:`evaluate`,
        :meth:`restore`, :meth:`restore_queue`): sorting every queue's alerts for each queue
        persisted held a 1,000-queue worker's loop for over a second when many queues changed
        in one evaluation (py-spy during ``make bench``'s loop-stall phase)."""
        alerts = self.alerts
        found = []
        for rule in self._rule_names:
            alert = alerts.get((rule, queue))
            if alert is not None and _worth_keeping(alert):
                found.append(alert)
        return found

    def restore_queue(self, queue: str, states: Iterable[AlertState]) -> list[AlertState]:
        """Replace one queue's alerts with ``states``; returns those restored."""
        self.forget_queue(queue)
        restored = []
        for alert in states:
            if alert.queue == queue and alert.rule in self.rules:
                self.alerts[(alert.rule, queue)] = alert
                for silence in alert.silences:
                    if all(s.id != silence.id for s in self.silences):
                        self.silences.append(silence)
                restored.append(alert)
        return restored

    def forget_queue(self, queue: str) -> None:
        for key in [k for k in self.alerts if k[1] == queue]:
            del self.alerts[key]


def _worth_keeping(alert: AlertState) -> bool:
    return alert.state != "inactive" or alert.resolved_at is not None or bool(alert.silences)


def _may_match(silence: Silence, rule: str, queue: str) -> bool:
    return fnmatch.fnmatchcase(rule, silence.rule) and fnmatch.fnmatchcase(queue, silence.queue)
