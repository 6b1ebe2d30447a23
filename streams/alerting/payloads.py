"""What each receiver kind is sent: pure functions from a notification to a request body.

Kept apart from the transport so the shapes are unit-tested exactly and a new receiver kind is
a new function here plus a sender. ``kind`` is ``firing`` (first notification), ``repeat`` (still
firing) or ``resolved``; ``key`` is a stable idempotency key a receiver can deduplicate on
(delivery is at-least-once: an answer lost on the way back means the request is sent again).
"""

from __future__ import annotations

import re
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Literal

from streams.alerting.config import AlertmanagerReceiver, EmailReceiver, SlackReceiver
from streams.alerting.notification import Notification, format_time

__all__ = [
    "Kind",
    "alertmanager_payload",
    "email_message",
    "slack_payload",
    "title",
    "webhook_payload",
]

Kind = Literal["firing", "repeat", "resolved"]

_LABEL_NAME = re.compile(r"[^a-zA-Z0-9_]")
_MAIL_POLICY = policy.SMTP.clone(max_line_length=998)


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def title(notification: Notification, kind: Kind) -> str:
    """``[FIRING:critical] <summary>`` (``[RESOLVED]``, ``[STILL FIRING:...]``)."""
    if kind == "resolved":
        head = "[RESOLVED]"
    elif kind == "repeat":
        head = f"[STILL FIRING:{notification.severity}]"
    else:
        head = f"[FIRING:{notification.severity}]"
    return f"{head} {notification.summary}"


def webhook_payload(notification: Notification, kind: Kind, key: str, now: float) -> dict[str, Any]:
    """The generic webhook document (version 1; documented in docs/alerts.md)."""
    return {
        "version": "1",
        "id": key,
        "transition_id": notification.id or None,
        "kind": kind,
        "status": notification.status,
        "fingerprint": notification.fingerprint,
        "rule": notification.rule,
        "queue": notification.queue,
        "severity": notification.severity,
        "summary": notification.summary,
        "description": notification.description,
        "runbook_url": notification.runbook_url,
        "value": notification.value,
        "threshold": notification.threshold,
        "starts_at": format_time(notification.starts_at),
        "ends_at": format_time(notification.ends_at) or None,
        "labels": notification.all_labels(),
        "sent_at": format_time(now),
    }


def _slack_escape(text: str) -> str:
    """Slack mrkdwn control characters (https://api.slack.com/reference/surfaces/formatting)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_payload(
    notification: Notification, kind: Kind, receiver: SlackReceiver
) -> dict[str, Any]:
    """An incoming-webhook message: ``text`` (notifications, clients without blocks) and
    Block Kit ``blocks`` (header, summary, fields, runbook), within Slack's size limits."""
    text = title(notification, kind)
    fields = [
        f"*Queue*\n{_slack_escape(notification.queue)}",
        f"*Rule*\n{_slack_escape(notification.rule)}",
        f"*Severity*\n{notification.severity}",
        f"*Since*\n{format_time(notification.starts_at)}",
    ]
    if notification.value is not None:
        fields.append(f"*Value*\n{_number(notification.value)}")
    if notification.threshold is not None:
        fields.append(f"*Threshold*\n{_number(notification.threshold)}")
    if notification.ends_at is not None:
        fields.append(f"*Resolved at*\n{format_time(notification.ends_at)}")
    body = f"*{_slack_escape(notification.summary)}*"
    if notification.description:
        body += "\n" + _slack_escape(notification.description)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(text, 150)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(body, 3000)}},
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": _cut(f, 2000)} for f in fields[:10]],
        },
    ]
    context = f"fingerprint `{notification.fingerprint}`"
    if notification.runbook_url:
        context = f"<{_slack_escape(notification.runbook_url)}|Runbook> · " + context
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    # ``text`` is mrkdwn too (the notification and the fallback): a queue or summary holding
    # ``<!channel>`` or ``<https://x|y>`` must show as typed, never ping or link.
    payload: dict[str, Any] = {"text": _cut(_slack_escape(text), 3000), "blocks": blocks}
    if receiver.channel:
        payload["channel"] = receiver.channel
    if receiver.username:
        payload["username"] = receiver.username
    return payload


def alertmanager_payload(
    notification: Notification, receiver: AlertmanagerReceiver, now: float
) -> list[dict[str, Any]]:
    """The body of ``POST /api/v2/alerts`` (Alertmanager's ``postableAlerts``): one alert.

    Labels identify the alert in Alertmanager (alertname, queue, severity and the extra labels;
    names made valid, empty values dropped as Alertmanager treats them as absent). A firing
    alert gets ``endsAt`` four resend intervals ahead, so it stays active while we re-post it
    and resolves by itself if we stop; a resolved one gets its real end time.
    """
    labels = {
        _LABEL_NAME.sub("_", name): value
        for name, value in notification.all_labels().items()
        if value != ""
    }
    annotations = {
        "summary": notification.summary,
        "description": notification.description,
        "runbook_url": notification.runbook_url,
        "value": _number(notification.value),
        "threshold": _number(notification.threshold),
        "fingerprint": notification.fingerprint,
        "transition_id": notification.id,
    }
    if notification.status == "resolved":
        ends = notification.ends_at if notification.ends_at is not None else now
        ends = max(ends, notification.starts_at)
    else:
        ends = now + 4 * receiver.resend_interval_seconds
    alert: dict[str, Any] = {
        "labels": labels,
        "annotations": {k: v for k, v in annotations.items() if v != ""},
        "startsAt": format_time(notification.starts_at),
        "endsAt": format_time(ends),
    }
    if receiver.generator_url:
        alert["generatorURL"] = receiver.generator_url
    return [alert]


def email_message(
    notification: Notification, kind: Kind, key: str, receiver: EmailReceiver, now: float
) -> EmailMessage:
    """A plain-text mail. Repeats and the resolution reply to the first mail (In-Reply-To), so
    mail clients thread an alert's whole life together."""
    # RFC 5322 allows 998-character lines; the stdlib's 78-column folding splits a subject that
    # starts with "[FIRING:..." right after "Subject:", which some clients show with a space.
    message = EmailMessage(policy=_MAIL_POLICY)
    message["Subject"] = title(notification, kind)
    message["From"] = receiver.from_
    message["To"] = ", ".join(receiver.to)
    message["Date"] = formatdate(now, usegmt=True)
    domain = receiver.from_.rpartition("@")[2] or "ccpulse"
    thread = f"<{notification.fingerprint}.{int(notification.starts_at)}@{domain}>"
    if kind == "firing":
        message["Message-ID"] = thread
    else:
        message["Message-ID"] = make_msgid(domain=domain)
        message["In-Reply-To"] = thread
        message["References"] = thread
    message["X-Ccpulse-Fingerprint"] = notification.fingerprint
    message["X-Ccpulse-Id"] = key
    lines = [
        notification.summary,
        "",
        *([notification.description, ""] if notification.description else []),
        f"Status:     {'resolved' if kind == 'resolved' else 'firing'}",
        f"Severity:   {notification.severity}",
        f"Queue:      {notification.queue}",
        f"Rule:       {notification.rule}",
    ]
    if notification.value is not None:
        lines.append(f"Value:      {_number(notification.value)}")
    if notification.threshold is not None:
        lines.append(f"Threshold:  {_number(notification.threshold)}")
    lines.append(f"Since:      {format_time(notification.starts_at)}")
    if notification.ends_at is not None:
        lines.append(f"Resolved:   {format_time(notification.ends_at)}")
    if notification.runbook_url:
        lines.append(f"Runbook:    {notification.runbook_url}")
    for name, value in notification.labels.items():
        lines.append(f"{name}: {value}")
    lines.extend(["", f"-- ccpulse (fingerprint {notification.fingerprint})"])
    message.set_content("\n".join(lines) + "\n")
    return message
