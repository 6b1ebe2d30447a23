"""What the dispatcher keeps per receiver: the queued notifications (:class:`Item`), the
receiver's queue and sender (:class:`Channel`), the firing alerts it repeats (:class:`Firing`),
the ticket that tells the delivery log when one notification is done everywhere
(:class:`Ticket`), and the small pure rules about them: the retry backoff, the idempotency key
of each delivery, which queued repeats to drop."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from streams.alerting.config import (
    AlertmanagerReceiver,
    EmailReceiver,
    Receiver,
    WebhookReceiver,
)
from streams.alerting.notification import Notification
from streams.alerting.payloads import Kind
from streams.alerting.senders import EmailSender, HttpSender

__all__ = [
    "Channel",
    "FailureHook",
    "Firing",
    "Item",
    "Ticket",
    "backoff_delay",
    "discard",
    "drop_repeats",
    "ended_id",
    "idempotency_key",
    "oldest_age",
    "resolved_copy",
    "sender_for",
]


def backoff_delay(attempt: int, initial: float, maximum: float, rand: float) -> float:
    """Seconds to wait after the ``attempt``-th failure (1-based): exponential, capped, with
    "equal jitter" (half fixed, half random) so many workers retrying one receiver spread out
    while the wait still grows. ``rand`` is uniform in [0, 1)."""
    base = min(maximum, initial * 2.0 ** max(0, attempt - 1))
    return base / 2 + rand * base / 2


class Ticket:
    """Counts the deliveries one ``submit()`` started; calls ``done`` when the last one ends
    (delivered or given up)."""

    def __init__(self, done: Callable[[], None] | None) -> None:
        self._done = done
        self._open = 1  # the submit itself, closed by seal()

    def add(self) -> None:
        self._open += 1

    def finish(self) -> None:
        self._open -= 1
        if self._open == 0 and self._done is not None:
            done, self._done = self._done, None
            done()

    seal = finish


@dataclass(slots=True, eq=False)
class Item:
    notification: Notification
    kind: Kind
    key: str
    attempts: int = 0
    ticket: Ticket | None = None
    queued_at: float = field(default_factory=time.time)

    def finish(self) -> None:
        if self.ticket is not None:
            ticket, self.ticket = self.ticket, None
            ticket.finish()


FailureHook = Callable[[str, Notification, str, str, str], None]
"""``on_failed(receiver, notification, kind, reason, error)``: a notification given up."""


@dataclass(eq=False)
class Channel:
    name: str
    receiver: Receiver
    sender: HttpSender | EmailSender
    queue: deque[Item] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    in_flight: Item | None = None
    task: asyncio.Task[None] | None = None


@dataclass(eq=False)
class Firing:
    notification: Notification
    receivers: list[str]
    """Every receiver told about the alert: all of them get its resolution."""
    due: dict[str, float]
    """Receiver -> when to repeat (or, for Alertmanager, re-post) next."""
    repeats: int = 0


def sender_for(receiver: Receiver) -> HttpSender | EmailSender:
    if isinstance(receiver, EmailReceiver):
        return EmailSender(receiver)
    if isinstance(receiver, AlertmanagerReceiver):
        url = receiver.url.rstrip("/") + "/api/v2/alerts"
        return HttpSender(url, receiver.headers, receiver.timeout_seconds)
    headers = receiver.headers if isinstance(receiver, WebhookReceiver) else {}
    return HttpSender(receiver.url, headers, receiver.timeout_seconds)


def oldest_age(queue: deque[Item]) -> float:
    return max(0.0, time.time() - queue[0].queued_at) if queue else 0.0


def discard(queue: deque[Item], item: Item) -> None:
    with contextlib.suppress(ValueError):
        queue.remove(item)


def drop_repeats(channel: Channel, fingerprint: str) -> int:
    """Remove ``fingerprint``'s queued repeats from ``channel`` (not the one being sent)."""
    doomed = [
        i
        for i in channel.queue
        if i.kind == "repeat"
        and i.notification.fingerprint == fingerprint
        and i is not channel.in_flight
    ]
    for item in doomed:
        channel.queue.remove(item)
    return len(doomed)


def resolved_copy(n: Notification, now: float) -> Notification:
    return msgspec.structs.replace(n, status="resolved", ends_at=now)


def ended_id(n: Notification) -> str:
    """The id of the end of an alert's old severity at Alertmanager (on an escalation)."""
    return f"{n.id}:ended" if n.id else ""


def idempotency_key(n: Notification, kind: Kind, repeat: int = 0) -> str:
    """Idempotency key: the same for every attempt of one notification. The transition's id
    when known (the same from whichever worker delivers it), a repeat's own after it."""
    if n.id:
        return f"{n.id}:repeat:{repeat}" if repeat else n.id
    key = f"{n.fingerprint}:{kind}:{n.severity}:{int(n.starts_at * 1000)}"
    return f"{key}:{repeat}" if repeat else key
