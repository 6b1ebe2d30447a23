"""What is written about an alert, as pure functions of its rule and state: its changelog key,
its description (``GET /api/alerts``, and the part of it every worker lists), and the
notification the receivers get."""

from __future__ import annotations

import time
from typing import Any

from processors.alert_rules import AlertRule, render_summary
from processors.alerts import AlertState, transition_id
from streams.alerting.notification import Notification

__all__ = ["SHARED", "alert_key", "describe", "iso", "notification", "parse_alert_key"]

SHARED = (
    "fingerprint",
    "rule",
    "queue",
    "state",
    "severity",
    "since",
    "summary",
    "acknowledged_by",
    "silenced",
    "silence_id",
)
"""What of an alert's description every worker lists (``GET /api/alerts`` ``cluster``)."""


def alert_key(partition: int, queue: str) -> bytes:
    """The changelog key of a queue's alert state (beside ``/s`` snapshots and ``/d`` deltas)."""
    return f"{partition}/{queue}/a".encode()


def parse_alert_key(key: bytes) -> tuple[int, str] | None:
    """(partition, queue) of an :func:`alert_key`; None for the queue state's other keys."""
    if not key.endswith(b"/a"):
        return None
    partition, _, queue = key[:-2].decode().partition("/")
    return int(partition), queue


def iso(epoch: float | None) -> str | None:
    """``epoch`` as ISO 8601 UTC (None stays None)."""
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def describe(rule: AlertRule, alert: AlertState, at: float) -> dict[str, Any]:
    """An alert as ``GET /api/alerts`` lists it, at engine time ``at`` (silences end)."""
    silence = alert.silenced_by(at)
    return {
        "fingerprint": alert.fingerprint,
        "rule": rule.name,
        "queue": alert.queue,
        "state": alert.state,
        "severity": alert.severity,
        "kpi": rule.kpi,
        "window": rule.window,
        "direction": rule.direction,
        "value": alert.value,
        "threshold": rule.fire,
        "clear": rule.clear,
        "summary": render_summary(rule, alert.queue, alert.value, alert.severity),
        "since": alert.fired_at if alert.state == "firing" else alert.pending_since,
        "since_iso": iso(alert.fired_at if alert.state == "firing" else alert.pending_since),
        "runbook_url": rule.runbook_url,
        "acknowledged_by": alert.acknowledged_by,
        "acknowledged_at": alert.acknowledged_at,
        "silenced": silence is not None,
        "silence_id": silence.id if silence is not None else None,
    }


def notification(
    rule: AlertRule, alert: AlertState, status: str, at: float, value: float | None
) -> Notification:
    """What the dispatcher delivers for ``alert``.

    Its times are wall-clock: it starts when receivers were first told (the same after a
    restart) and ends now. With live traffic that is engine time give or take a second; a
    simulation or a catch-up runs engine time ahead of the wall clock, and receivers
    (Alertmanager) refuse alerts that start in the future or end before they start.
    """
    window = rule.window or "live"
    wall = time.time()
    if alert.notified_at is not None:
        starts = alert.notified_at
    else:
        starts = min(alert.fired_at if alert.fired_at is not None else at, wall)
    relation = ">" if rule.direction == "above" else "<"
    state = "resolved" if status == "resolved" else "firing"
    return Notification(
        fingerprint=alert.fingerprint,
        id=transition_id(alert.fingerprint, state, alert.severity, alert.fired_at, at),
        rule=rule.name,
        queue=alert.queue,
        severity=alert.severity,
        status="resolved" if status == "resolved" else "firing",
        summary=render_summary(rule, alert.queue, value, alert.severity),
        description=(
            f"{rule.kpi} ({window}) {relation} {rule.fire:g} fires; clears at {rule.clear:g}. "
            f"Rule {rule.name}."
        ),
        runbook_url=rule.runbook_url or "",
        value=value,
        threshold=rule.clear if status == "resolved" else rule.fire,
        starts_at=starts,
        ends_at=max(wall, starts) if status == "resolved" else None,
        labels={"kpi": rule.kpi, "window": window, **rule.labels},
    )
