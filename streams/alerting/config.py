"""The ``notify`` section of the configuration file: named receivers, routes, repeat interval.

```yaml
notify:
  repeat_interval_seconds: 3600
  receivers:
    oncall:   {kind: webhook, url: "https://pager.example.com/hook",
               headers: {Authorization: "Bearer ${PAGER_TOKEN}"}}
    team:     {kind: slack, url: "${SLACK_WEBHOOK_URL}"}
    mail:     {kind: email, host: smtp.example.com, port: 587, security: starttls,
               username: ccpulse, password: "${SMTP_PASSWORD}",
               from: ccpulse@example.com, to: [supervisors@example.com]}
    am:       {kind: alertmanager, url: "http://alertmanager:9093"}
  routes:
    - {queues: ["billing*"], severities: [critical], receivers: [oncall, mail], continue: true}
    - {queues: ["*"], receivers: [team]}
  default_receivers: [am]
```

Routes are tried in order; the first that matches decides, unless it says ``continue: true``,
in which case the next matching routes add their receivers too. An alert no route matches goes
to ``default_receivers``. With no receivers at all (the default) notifications are only logged,
so a fresh install works without any endpoint. Every receiver shares the delivery settings of
:class:`Delivery` (timeout, retries with exponential backoff and jitter, queue size).
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Literal

from msgspec import Struct, field

from streams.alerting.notification import Notification, Severity

__all__ = [
    "AlertmanagerReceiver",
    "EmailReceiver",
    "NotifyConfig",
    "Receiver",
    "Route",
    "SlackReceiver",
    "WebhookReceiver",
]


class Delivery(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Delivery settings every receiver kind has."""

    timeout_seconds: float = 10.0
    """Per attempt: connect, send and read the answer."""
    max_retries: int | None = None
    """Retries after the first attempt before giving up on one notification. None (the default)
    retries until delivered, so a receiver that is down for hours still gets every alert."""
    backoff_initial_seconds: float = 1.0
    backoff_max_seconds: float = 300.0
    queue_size: int = 1000
    """Notifications kept per receiver while it is unreachable; past it the oldest repeat
    notifications are dropped first (counted and logged)."""


class WebhookReceiver(
    Delivery, frozen=True, forbid_unknown_fields=True, kw_only=True, tag_field="kind", tag="webhook"
):
    """POST of a JSON document (see docs/alerts.md) to ``url``."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)


class SlackReceiver(
    Delivery, frozen=True, forbid_unknown_fields=True, kw_only=True, tag_field="kind", tag="slack"
):
    """A Slack (or Mattermost, Rocket.Chat...) incoming webhook: ``text`` plus ``blocks``."""

    url: str
    channel: str | None = None
    """Only for webhooks that allow overriding their channel (legacy Slack, Mattermost)."""
    username: str | None = None


class EmailReceiver(
    Delivery, frozen=True, forbid_unknown_fields=True, kw_only=True, tag_field="kind", tag="email"
):
    """One mail per notification, over SMTP."""

    host: str
    port: int = 587
    security: Literal["starttls", "ssl", "none"] = "starttls"
    ca_file: str | None = None
    """PEM file of the certificate authorities to trust for the server's certificate (STARTTLS
    or SSL), e.g. a company CA. None (the default): the system's trust store. The certificate
    and its host name are always checked; an untrusted one is refused, never retried."""
    username: str | None = None
    password: str | None = None
    """Use ``${ENV_VAR}`` to keep it out of the file."""
    from_: str = field(name="from")
    to: list[str]


class AlertmanagerReceiver(
    Delivery,
    frozen=True,
    forbid_unknown_fields=True,
    kw_only=True,
    tag_field="kind",
    tag="alertmanager",
):
    """Prometheus Alertmanager: POST ``/api/v2/alerts``; its routing, silences and inhibition
    then apply. Firing alerts are re-posted every ``resend_interval_seconds`` with an ``endsAt``
    of four intervals ahead (as Prometheus does), so Alertmanager never resolves them on its own
    while they fire, and does resolve them if ccpulse disappears."""

    url: str
    """Base URL, e.g. ``http://alertmanager:9093`` (with any path prefix it is served under)."""
    headers: dict[str, str] = field(default_factory=dict)
    resend_interval_seconds: float = 60.0
    generator_url: str | None = None
    """Back-link put in ``generatorURL`` (e.g. the worker's /api/kpis); omitted when unset."""


Receiver = WebhookReceiver | SlackReceiver | EmailReceiver | AlertmanagerReceiver


class Route(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Which alerts go to which receivers: all of ``queues``/``rules`` patterns (shell style)
    and ``severities`` must match."""

    receivers: list[str]
    queues: list[str] = field(default_factory=lambda: ["*"])
    rules: list[str] = field(default_factory=lambda: ["*"])
    severities: list[Severity] = field(default_factory=lambda: ["warning", "critical"])
    continue_: bool = field(default=False, name="continue")
    """Also try the routes after this one."""

    def matches(self, notification: Notification) -> bool:
        return (
            notification.severity in self.severities
            and any(fnmatchcase(notification.queue, p) for p in self.queues)
            and any(fnmatchcase(notification.rule, p) for p in self.rules)
        )


class NotifyConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    receivers: dict[str, Receiver] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)
    default_receivers: list[str] = field(default_factory=list)
    """Receivers of alerts that no route matches."""
    repeat_interval_seconds: float = 3600.0
    """Notify again about a still-firing alert this often (0: never repeat)."""
    send_resolved: bool = True
    consumer_group: str = ""
    """The consumer group that delivers notifications from the alerts topic (docs/alerts.md,
    "Where notifications are delivered"). Empty (the default): ``<worker.app_id>-notify``."""

    def receivers_for(self, notification: Notification) -> list[str]:
        """Receiver names for ``notification``, in route order, without duplicates."""
        chosen: list[str] = []
        matched = False
        for route in self.routes:
            if not route.matches(notification):
                continue
            matched = True
            chosen.extend(r for r in route.receivers if r not in chosen)
            if not route.continue_:
                break
        if not matched:
            chosen.extend(r for r in self.default_receivers if r not in chosen)
        return chosen

    def problem(self) -> tuple[str, str] | None:
        """The first mistake types cannot express, as (dotted path, reason), or None."""
        for name, receiver in self.receivers.items():
            where = f"notify.receivers.{name}"
            if receiver.timeout_seconds <= 0:
                return f"{where}.timeout_seconds", "must be > 0"
            if receiver.backoff_initial_seconds <= 0:
                return f"{where}.backoff_initial_seconds", "must be > 0"
            if receiver.backoff_max_seconds < receiver.backoff_initial_seconds:
                return f"{where}.backoff_max_seconds", "must be >= backoff_initial_seconds"
            if receiver.queue_size < 1:
                return f"{where}.queue_size", "must be >= 1"
            if receiver.max_retries is not None and receiver.max_retries < 0:
                return f"{where}.max_retries", "must be >= 0 (or null: retry until delivered)"
            if isinstance(receiver, EmailReceiver):
                if not receiver.to:
                    return f"{where}.to", "needs at least one address"
            elif not receiver.url.startswith(("http://", "https://")):
                return f"{where}.url", f"must be an http(s) URL, got {receiver.url!r}"
            if isinstance(receiver, AlertmanagerReceiver) and receiver.resend_interval_seconds <= 0:
                return f"{where}.resend_interval_seconds", "must be > 0"
        for index, route in enumerate(self.routes):
            for position, name in enumerate(route.receivers):
                if name not in self.receivers:
                    return (
                        f"notify.routes[{index}].receivers[{position}]",
                        f"route {index} names unknown receiver {name!r}"
                        f" (known: {', '.join(sorted(self.receivers)) or 'none'})",
                    )
        for position, name in enumerate(self.default_receivers):
            if name not in self.receivers:
                return (
                    f"notify.default_receivers[{position}]",
                    f"unknown receiver {name!r}"
                    f" (known: {', '.join(sorted(self.receivers)) or 'none'})",
                )
        if self.repeat_interval_seconds < 0:
            return "notify.repeat_interval_seconds", "must be >= 0"
        return None
