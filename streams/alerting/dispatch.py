"""Deliver alert notifications to their receivers without ever holding up the worker.

:class:`Dispatcher` runs in the worker's asyncio event loop (Faust's) or in a test's own loop.
``submit()`` only routes and appends to in-memory queues, so the KPI agent never waits on a
slow or dead endpoint and never sees an exception from one. Each receiver has its own bounded
queue and its own task, which delivers in order, one request at a time: a receiver that is
down keeps its notifications and retries them with exponential backoff and jitter (each attempt
bounded by the receiver's timeout), while the other receivers carry on.

Besides first notifications and resolutions, the dispatcher owns the alert's lifetime at each
receiver: a still-firing alert is notified again every ``repeat_interval_seconds``, and posted
again to Alertmanager every ``resend_interval_seconds`` (Alertmanager resolves an alert whose
``endsAt`` passes, so a firing alert must be refreshed; Alertmanager then applies its own
repeat interval). ``track()`` re-registers the firing alerts restored after a restart, so they
keep being refreshed and repeated without being announced twice. ``acknowledge()`` stops the
repeats to humans (Alertmanager re-posts go on: there an acknowledgement is a silence) until the
alert resolves; ``forget()`` stops everything scheduled for an alert whose queue moved to
another worker in a rebalance (the new owner carries on), without sending anything.

Guarantees and limits: delivery is at-least-once per receiver (an answer lost on the way back
means the request is sent again; payloads carry an idempotency key, the transition's id). Queues
live in memory; what makes a notification survive the process is the alerts topic it was read
from: ``submit(n, done)`` calls ``done`` once every receiver accepted it or gave it up, and only
then does :mod:`streams.alerting.delivery_log` commit its offset, so a worker killed mid-delivery
leaves it to the next member of the consumer group. When a queue is full, the oldest repeat
notifications are dropped first, first-firing and resolved ones only when nothing else is left.
Every notification given up (queue full, rejected, retries exhausted) is counted in
``ccpulse_alert_notifications_dropped_total``, logged, and handed to ``on_failed`` (the delivery
log writes it to the dead-letter topic). Call ``submit()``, ``track()``, ``acknowledge()`` and
``forget()`` from the event loop's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from prometheus_client import CollectorRegistry

from streams.alerting.config import (
    AlertmanagerReceiver,
    EmailReceiver,
    NotifyConfig,
    Receiver,
    SlackReceiver,
    WebhookReceiver,
)
from streams.alerting.notification import Notification
from streams.alerting.payloads import (
    Kind,
    alertmanager_payload,
    email_message,
    slack_payload,
    webhook_payload,
)
from streams.alerting.senders import DeliveryError, EmailSender, HttpSender
from streams.logs import log
from streams.metric_spec import MetricSpec

__all__ = ["Dispatcher", "backoff_delay"]

logger = logging.getLogger("ccpulse.alerting")

_IDLE_WAKEUP_SECONDS = 60.0

SENT = MetricSpec(
    "ccpulse_alert_notifications",
    "counter",
    "Alert notifications delivered, by receiver and status (firing, repeat, resolved).",
    ("receiver", "status"),
)
FAILURES = MetricSpec(
    "ccpulse_alert_notification_failures",
    "counter",
    "Failed notification delivery attempts, by receiver (every retry counts).",
    ("receiver",),
)
DROPPED = MetricSpec(
    "ccpulse_alert_notifications_dropped",
    "counter",
    "Notifications given up, by receiver and reason (overflow_repeat, overflow, "
    "rejected, retries_exhausted, shutdown).",
    ("receiver", "reason"),
)
PENDING = MetricSpec(
    "ccpulse_alert_notifications_pending",
    "gauge",
    "Notifications waiting for delivery, by receiver.",
    ("receiver",),
)
OLDEST_PENDING = MetricSpec(
    "ccpulse_alert_notifications_oldest_pending_seconds",
    "gauge",
    "Age of the oldest notification waiting for delivery, by receiver (0: none).",
    ("receiver",),
)
NOTIFY_METRICS: tuple[MetricSpec, ...] = (SENT, FAILURES, DROPPED, PENDING, OLDEST_PENDING)
"""The dispatcher's metrics (listed by streams/views/metrics_catalog.py)."""


def backoff_delay(attempt: int, initial: float, maximum: float, rand: float) -> float:
    """Seconds to wait after the ``attempt``-th failure (1-based): exponential, capped, with
    "equal jitter" (half fixed, half random) so many workers retrying one receiver spread out
    while the wait still grows. ``rand`` is uniform in [0, 1)."""
    base = min(maximum, initial * 2.0 ** max(0, attempt - 1))
    return base / 2 + rand * base / 2


class _Ticket:
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
class _Item:
    notification: Notification
    kind: Kind
    key: str
    attempts: int = 0
    ticket: _Ticket | None = None
    queued_at: float = field(default_factory=time.time)

    def finish(self) -> None:
        if self.ticket is not None:
            ticket, self.ticket = self.ticket, None
            ticket.finish()


FailureHook = Callable[[str, Notification, str, str, str], None]
"""``on_failed(receiver, notification, kind, reason, error)``: a notification given up."""


@dataclass(eq=False)
class _Channel:
    name: str
    receiver: Receiver
    sender: HttpSender | EmailSender
    queue: deque[_Item] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    in_flight: _Item | None = None
    task: asyncio.Task[None] | None = None


@dataclass(eq=False)
class _Firing:
    notification: Notification
    receivers: list[str]
    """Every receiver told about the alert: all of them get its resolution."""
    due: dict[str, float]
    """Receiver -> when to repeat (or, for Alertmanager, re-post) next."""
    repeats: int = 0


def _sender(receiver: Receiver) -> HttpSender | EmailSender:
    if isinstance(receiver, EmailReceiver):
        return EmailSender(receiver)
    if isinstance(receiver, AlertmanagerReceiver):
        url = receiver.url.rstrip("/") + "/api/v2/alerts"
        return HttpSender(url, receiver.headers, receiver.timeout_seconds)
    headers = receiver.headers if isinstance(receiver, WebhookReceiver) else {}
    return HttpSender(receiver.url, headers, receiver.timeout_seconds)


class Dispatcher:
    """Routes notifications to receivers and delivers them; see the module docstring."""

    def __init__(
        self,
        config: NotifyConfig,
        registry: CollectorRegistry,
        on_failed: FailureHook | None = None,
        muted: Callable[[Notification], bool] | None = None,
    ) -> None:
        self.config = config
        self.on_failed = on_failed
        self.muted = muted
        """Whether a firing alert is silenced now: its repeats to humans are skipped."""
        self._ticket: _Ticket | None = None
        self._channels = {
            name: _Channel(name, receiver, _sender(receiver))
            for name, receiver in config.receivers.items()
        }
        self._firing: dict[str, _Firing] = {}
        self._acknowledged: set[str] = set()
        """Fingerprints acknowledged by a person: no repeats to humans until they resolve. Kept
        apart from ``_firing`` so an ack outlives an escalation, a silence, or a restore."""
        self._tick = asyncio.Event()
        self._scheduler: asyncio.Task[None] | None = None
        self._closing = False
        self._rng = random.Random()
        self._sent = SENT.counter(registry)
        self._failures = FAILURES.counter(registry)
        self._dropped = DROPPED.counter(registry)
        pending = PENDING.gauge(registry)
        oldest = OLDEST_PENDING.gauge(registry)
        for name, channel in self._channels.items():
            pending.labels(name).set_function(lambda c=channel: float(len(c.queue)))
            oldest.labels(name).set_function(lambda c=channel: _oldest_age(c.queue))
            self._failures.labels(name)
            for status in ("firing", "resolved"):
                self._sent.labels(name, status)

    # -- public API -------------------------------------------------------------------------

    async def start(self) -> None:
        """Start one delivery task per receiver and the repeat scheduler (idempotent)."""
        if self._scheduler is not None:
            return
        for channel in self._channels.values():
            channel.task = asyncio.create_task(
                self._deliver(channel), name=f"ccpulse-notify-{channel.name}"
            )
        self._scheduler = asyncio.create_task(self._schedule(), name="ccpulse-notify-repeat")
        log(
            logger,
            "alert notifications ready",
            receivers=",".join(self._channels) or "none (notifications are only logged)",
            routes=len(self.config.routes),
        )

    def submit(self, notification: Notification, done: Callable[[], None] | None = None) -> None:
        """Queue ``notification`` for its receivers; ``done()`` is called once each of them
        accepted it or gave it up (at once when it goes nowhere). Never blocks, never raises."""
        ticket = self._ticket = _Ticket(done)
        try:
            self._submit(notification)
        except Exception:  # a bug here must never stop the KPI agent
            logger.exception(
                "alert notification not queued",
                extra={"kv": {"fingerprint": getattr(notification, "fingerprint", None)}},
            )
        finally:
            self._ticket = None
            ticket.seal()

    def track(self, notification: Notification) -> None:
        """Register an alert that was already firing before a restart: no notification now,
        repeats from one interval on; Alertmanager receivers get it re-posted at once (that
        only refreshes its ``endsAt``: Alertmanager does not notify again for it)."""
        try:
            if notification.status != "firing":
                return
            now = time.time()
            receivers = self.config.receivers_for(notification)
            due = {}
            for name in receivers:
                channel = self._channels.get(name)
                if channel is None:
                    continue
                if isinstance(channel.receiver, AlertmanagerReceiver):
                    due[name] = now
                elif self.config.repeat_interval_seconds > 0:
                    due[name] = now + self.config.repeat_interval_seconds
            firing = _Firing(notification, receivers, due)
            self._firing[notification.fingerprint] = firing
            if notification.fingerprint in self._acknowledged:
                self._mute_humans(firing)
            self._tick.set()
        except Exception:
            logger.exception(
                "alert not tracked",
                extra={"kv": {"fingerprint": getattr(notification, "fingerprint", None)}},
            )

    def acknowledge(self, fingerprint: str) -> None:
        """A person acknowledged the alert: no more repeats to humans (webhook, Slack, email)
        until it resolves, including those already queued. Alertmanager receivers keep getting
        it re-posted, or they would end it after ``resolve_timeout`` (silencing it there is
        Alertmanager's business). The resolution is still sent. Never raises."""
        try:
            self._acknowledged.add(fingerprint)
            firing = self._firing.get(fingerprint)
            muted = self._mute_humans(firing) if firing is not None else 0
            log(
                logger,
                "alert acknowledged: repeats to humans stopped",
                fingerprint=fingerprint,
                tracked=firing is not None,
                dropped_repeats=muted,
            )
        except Exception:
            logger.exception(
                "alert acknowledgement not applied", extra={"kv": {"fingerprint": fingerprint}}
            )

    def forget(self, fingerprint: str) -> None:
        """This worker no longer owns the alert's queue (a rebalance moved it): stop its repeats
        and Alertmanager re-posts, queued ones included, and send nothing; the new owner carries
        on and sends the resolution. First notifications and resolutions already queued are
        still delivered: they happened. Never raises."""
        try:
            self._acknowledged.discard(fingerprint)
            firing = self._firing.pop(fingerprint, None)
            dropped = 0
            for channel in self._channels.values():
                dropped += _drop_repeats(channel, fingerprint)
            log(
                logger,
                "alert handed over: repeats stopped",
                fingerprint=fingerprint,
                tracked=firing is not None,
                dropped_repeats=dropped,
            )
        except Exception:
            logger.exception("alert not forgotten", extra={"kv": {"fingerprint": fingerprint}})

    async def close(self, timeout: float = 10.0) -> None:
        """Deliver what can be delivered within ``timeout`` seconds, then stop; whatever is
        still queued is logged and counted as dropped (reason ``shutdown``)."""
        self._closing = True
        self._tick.set()
        tasks = [c.task for c in self._channels.values() if c.task is not None]
        for channel in self._channels.values():
            channel.wake.set()
        if tasks:
            _, unfinished = await asyncio.wait(tasks, timeout=timeout)
            for task in unfinished:
                task.cancel()
        if self._scheduler is not None:
            self._scheduler.cancel()
        await asyncio.gather(
            *tasks, *([self._scheduler] if self._scheduler else []), return_exceptions=True
        )
        for channel in self._channels.values():
            if channel.queue:
                self._dropped.labels(channel.name, "shutdown").inc(len(channel.queue))
                log(
                    logger,
                    "notifications undelivered at shutdown",
                    logging.WARNING,
                    receiver=channel.name,
                    count=len(channel.queue),
                    fingerprints=",".join(
                        sorted({i.notification.fingerprint for i in channel.queue})
                    ),
                )
            await channel.sender.close()

    # -- routing -----------------------------------------------------------------------------

    def _submit(self, n: Notification) -> None:
        now = time.time()
        previous = self._firing.get(n.fingerprint)
        if n.status == "firing":
            if previous is not None and previous.notification.severity == n.severity:
                # Already announced (a duplicate transition, or one restored with track()):
                # keep the freshest text for repeats, but do not page again.
                previous.notification = n
                return
            receivers = self.config.receivers_for(n)
            self._log(n, "firing", receivers)
            due: dict[str, float] = {}
            if previous is not None:
                # Escalation (e.g. warning -> critical). Alertmanager identifies alerts by their
                # labels, severity included: end the old one there, or it lingers until endsAt.
                for name in previous.receivers:
                    channel = self._channels.get(name)
                    if channel and isinstance(channel.receiver, AlertmanagerReceiver):
                        ended = _resolved(previous.notification, now)
                        ended = msgspec.structs.replace(ended, id=_ended_id(ended))
                        self._enqueue(name, _Item(ended, "resolved", _key(ended, "resolved")))
                receivers_all = receivers + [r for r in previous.receivers if r not in receivers]
            else:
                receivers_all = receivers
            for name in receivers:
                self._enqueue(name, _Item(n, "firing", _key(n, "firing")))
            # Repeats follow the current route; the resolution goes to everyone who heard.
            for name in receivers:
                interval = self._interval(name)
                if interval is not None:
                    due[name] = now + interval
            firing = _Firing(n, receivers_all, due)
            self._firing[n.fingerprint] = firing
            if n.fingerprint in self._acknowledged:
                # Still acknowledged (an escalation, or a silence that ended): this first
                # notification goes out, the repeats do not.
                self._mute_humans(firing)
            self._tick.set()
            return
        # resolved
        self._firing.pop(n.fingerprint, None)
        self._acknowledged.discard(n.fingerprint)
        receivers = self.config.receivers_for(n)
        if previous is not None:
            receivers += [r for r in previous.receivers if r not in receivers]
        if not self.config.send_resolved:
            receivers = [
                r
                for r in receivers
                if r in self._channels
                and isinstance(self._channels[r].receiver, AlertmanagerReceiver)
            ]
        self._log(n, "resolved", receivers)
        for name in receivers:
            channel = self._channels.get(name)
            if channel is None:
                continue
            _drop_repeats(channel, n.fingerprint)
            self._enqueue(name, _Item(n, "resolved", _key(n, "resolved")))

    def _log(self, n: Notification, kind: Kind, receivers: list[str]) -> None:
        log(
            logger,
            "alert notification",
            logging.WARNING if n.status == "firing" else logging.INFO,
            kind=kind,
            rule=n.rule,
            queue=n.queue,
            severity=n.severity,
            fingerprint=n.fingerprint,
            summary=n.summary,
            value="" if n.value is None else n.value,
            threshold="" if n.threshold is None else n.threshold,
            receivers=",".join(receivers) or "none (logged only)",
        )

    def _mute_humans(self, firing: _Firing) -> int:
        """Stop ``firing``'s repeats to every receiver but Alertmanager; returns how many queued
        repeats were dropped."""
        dropped = 0
        for name in list(firing.due):
            channel = self._channels.get(name)
            if channel is None or isinstance(channel.receiver, AlertmanagerReceiver):
                continue
            del firing.due[name]
            dropped += _drop_repeats(channel, firing.notification.fingerprint)
        return dropped

    def _interval(self, name: str) -> float | None:
        """How often a firing alert goes to receiver ``name`` again (None: never)."""
        channel = self._channels.get(name)
        if channel is None:
            return None
        if isinstance(channel.receiver, AlertmanagerReceiver):
            return channel.receiver.resend_interval_seconds
        interval = self.config.repeat_interval_seconds
        return interval if interval > 0 else None

    def _enqueue(self, name: str, item: _Item) -> None:
        channel = self._channels.get(name)
        if channel is None:  # the config check makes this unreachable; never crash on it
            log(logger, "unknown receiver", logging.ERROR, receiver=name)
            return
        if len(channel.queue) >= channel.receiver.queue_size:
            victim = next(
                (i for i in channel.queue if i.kind == "repeat" and i is not channel.in_flight),
                None,
            )
            reason = "overflow_repeat"
            if victim is None and item.kind == "repeat":
                victim = item  # a repeat never displaces a first notification or a resolution
            elif victim is None:
                victim = next((i for i in channel.queue if i is not channel.in_flight), None)
                reason = "overflow"
            if victim is not None:
                if victim is not item:
                    channel.queue.remove(victim)
                self._given_up(name, victim, reason, "queue full")
                log(
                    logger,
                    "notification queue full: dropped the oldest",
                    logging.ERROR,
                    receiver=name,
                    reason=reason,
                    dropped_kind=victim.kind,
                    fingerprint=victim.notification.fingerprint,
                    queue_size=channel.receiver.queue_size,
                )
                if victim is item:
                    return
        if self._ticket is not None:
            item.ticket = self._ticket
            self._ticket.add()
        channel.queue.append(item)
        channel.wake.set()

    # -- tasks -------------------------------------------------------------------------------

    async def _schedule(self) -> None:
        """Enqueue repeats (and Alertmanager re-posts) of firing alerts when due."""
        while not self._closing:
            now = time.time()
            wake_at = now + _IDLE_WAKEUP_SECONDS
            for firing in list(self._firing.values()):
                for name, due in list(firing.due.items()):
                    interval = self._interval(name)
                    if interval is None:
                        continue
                    if due <= now:
                        channel = self._channels[name]
                        fingerprint = firing.notification.fingerprint
                        # Still trying to deliver an earlier one: that one will do. A silenced
                        # alert is not repeated to humans (Alertmanager re-posts go on).
                        silenced = not isinstance(
                            channel.receiver, AlertmanagerReceiver
                        ) and self._muted(firing.notification)
                        if not silenced and not any(
                            i.notification.fingerprint == fingerprint for i in channel.queue
                        ):
                            firing.repeats += 1
                            key = _key(firing.notification, "repeat", firing.repeats)
                            self._enqueue(name, _Item(firing.notification, "repeat", key))
                        due = firing.due[name] = now + interval
                    wake_at = min(wake_at, due)
            self._tick.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._tick.wait(), timeout=max(0.01, wake_at - time.time()))

    async def _deliver(self, channel: _Channel) -> None:
        """Deliver ``channel``'s queue in order, retrying the head until it goes through."""
        receiver = channel.receiver
        while True:
            if not channel.queue:
                if self._closing:
                    return
                channel.wake.clear()
                await channel.wake.wait()
                continue
            item = channel.queue[0]
            channel.in_flight = item
            try:
                await channel.sender.send(self._body(channel, item), item.key)
            except DeliveryError as exc:
                error: DeliveryError | None = exc
            except Exception as exc:  # a bug in a payload: report it, do not loop on it
                logger.exception("notification could not be built or sent")
                error = DeliveryError(f"{type(exc).__name__}: {exc}", retryable=False)
            else:
                error = None
            finally:
                channel.in_flight = None
            if error is None:
                _discard(channel.queue, item)
                item.finish()
                self._sent.labels(channel.name, item.kind).inc()
                log(
                    logger,
                    "notification delivered",
                    receiver=channel.name,
                    kind=item.kind,
                    fingerprint=item.notification.fingerprint,
                    attempts=item.attempts + 1,
                )
                continue
            item.attempts += 1
            self._failures.labels(channel.name).inc()
            limit = receiver.max_retries
            if not error.retryable or (limit is not None and item.attempts > limit):
                _discard(channel.queue, item)
                reason = "rejected" if not error.retryable else "retries_exhausted"
                self._given_up(channel.name, item, reason, error.reason)
                continue
            delay = backoff_delay(
                item.attempts,
                receiver.backoff_initial_seconds,
                receiver.backoff_max_seconds,
                self._rng.random(),
            )
            if error.retry_after is not None:
                delay = max(delay, min(error.retry_after, receiver.backoff_max_seconds))
            log(
                logger,
                "notification delivery failed, will retry",
                logging.WARNING,
                receiver=channel.name,
                kind=item.kind,
                fingerprint=item.notification.fingerprint,
                attempt=item.attempts,
                retry_in=round(delay, 2),
                error=error.reason,
            )
            await asyncio.sleep(delay)

    def _muted(self, notification: Notification) -> bool:
        try:
            return self.muted is not None and self.muted(notification)
        except Exception:
            logger.exception("silence check failed")
            return False

    def _given_up(self, receiver: str, item: _Item, reason: str, error: str) -> None:
        """Count, log and report one notification that will not be delivered, then release
        its ticket (the delivery log may commit past it: it is recorded, not lost)."""
        self._dropped.labels(receiver, reason).inc()
        n = item.notification
        log(
            logger,
            "notification given up",
            logging.ERROR,
            receiver=receiver,
            kind=item.kind,
            fingerprint=n.fingerprint,
            id=item.key,
            attempts=item.attempts,
            reason=reason,
            error=error,
        )
        if self.on_failed is not None:
            try:
                self.on_failed(receiver, n, item.kind, reason, error)
            except Exception:
                logger.exception("failed notification not recorded")
        item.finish()

    def _body(self, channel: _Channel, item: _Item) -> Any:
        receiver, n, now = channel.receiver, item.notification, time.time()
        if isinstance(receiver, AlertmanagerReceiver):
            return alertmanager_payload(n, receiver, now)
        if isinstance(receiver, SlackReceiver):
            return slack_payload(n, item.kind, receiver)
        if isinstance(receiver, EmailReceiver):
            return email_message(n, item.kind, item.key, receiver, now)
        return webhook_payload(n, item.kind, item.key, now)


def _oldest_age(queue: deque[_Item]) -> float:
    return max(0.0, time.time() - queue[0].queued_at) if queue else 0.0


def _discard(queue: deque[_Item], item: _Item) -> None:
    with contextlib.suppress(ValueError):
        queue.remove(item)


def _drop_repeats(channel: _Channel, fingerprint: str) -> int:
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


def _resolved(n: Notification, now: float) -> Notification:
    return msgspec.structs.replace(n, status="resolved", ends_at=now)


def _ended_id(n: Notification) -> str:
    """The id of the end of an alert's old severity at Alertmanager (on an escalation)."""
    return f"{n.id}:ended" if n.id else ""


def _key(n: Notification, kind: Kind, repeat: int = 0) -> str:
    """Idempotency key: the same for every attempt of one notification. The transition's id
    when known (the same from whichever worker delivers it), a repeat's own after it."""
    if n.id:
        return f"{n.id}:repeat:{repeat}" if repeat else n.id
    key = f"{n.fingerprint}:{kind}:{n.severity}:{int(n.starts_at * 1000)}"
    return f"{key}:{repeat}" if repeat else key
