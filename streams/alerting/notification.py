"""What the alert engine hands to the dispatcher: one alert's state, ready to tell a human.

A :class:`Notification` carries everything a receiver needs and nothing about how it is sent.
The alert state machine (processors/alerts.py) produces transitions; the worker turns a
transition into a Notification and submits it to :class:`streams.alerting.dispatch.Dispatcher`.
The same fingerprint identifies the alert for its whole life (firing, repeats, resolved), so a
receiver, Alertmanager included, can deduplicate on it.
"""

from __future__ import annotations

import time
from typing import Literal

import msgspec

__all__ = ["Notification", "NotificationStatus", "Severity", "format_time"]

NotificationStatus = Literal["firing", "resolved"]
Severity = Literal["warning", "critical"]


class Notification(msgspec.Struct, frozen=True, kw_only=True):
    """One alert at one moment: firing (possibly again) or resolved."""

    fingerprint: str
    """Stable id of the (rule, queue) alert; the same for firing, repeats and resolved."""
    id: str = ""
    """The id of the transition it tells of (processors.alerts.transition_id): the idempotency
    key of its delivery, the same on every attempt and from every worker. Empty: none known."""
    rule: str
    queue: str
    severity: Severity
    status: NotificationStatus
    summary: str
    description: str = ""
    runbook_url: str = ""
    value: float | None = None
    """The KPI value that caused the transition (None when not known, e.g. on restore)."""
    threshold: float | None = None
    starts_at: float
    """When the alert started firing, epoch seconds."""
    ends_at: float | None = None
    """When it resolved, epoch seconds; None while firing."""
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    """Extra labels (kpi, window...), passed on to receivers and to Alertmanager."""

    def all_labels(self) -> dict[str, str]:
        """The identifying labels (as Alertmanager sees them): ours, then the extra ones. The
        fingerprint is not one of them: it is an id, not a dimension."""
        labels = {"alertname": self.rule, "queue": self.queue, "severity": self.severity}
        for key, value in self.labels.items():
            labels.setdefault(key, value)
        return labels


def format_time(epoch: float | None) -> str:
    """RFC 3339 in UTC with milliseconds (what Alertmanager and most receivers expect)."""
    if epoch is None:
        return ""
    whole = int(epoch)
    millis = round((epoch - whole) * 1000)
    if millis == 1000:
        whole, millis = whole + 1, 0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"
