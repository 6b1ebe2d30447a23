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
import logging
import random
import time
from collections.abc import Callable

import msgspec
from prometheus_client import CollectorRegistry

from streams.alerting.config import AlertmanagerReceiver, NotifyConfig
from streams.alerting.delivery_queue import (
    Channel,
    FailureHook,
    Firing,
    Item,
    Ticket,
    drop_repeats,
    ended_id,
    idempotency_key,
    oldest_age,
    resolved_copy,
    sender_for,
)
from streams.alerting.delivery_tasks import DeliveryTasks
from streams.alerting.notification import Notification
from streams.alerting.notify_metrics import (
    DROPPED,
    FAILURES,
    OLDEST_PENDING,
    PENDING,
    SENT,
)
from streams.alerting.payloads import Kind
from streams.logs import log

__all__ = ["Dispatcher"]

logger = logging.getLogger("ccpulse.alerting")


class Dispatcher(DeliveryTasks):
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
        self._ticket: Ticket | None = None
        self._channels = {
            name: Channel(name, receiver, sender_for(receiver))
            for name, receiver in config.receivers.items()
        }
        self._firing: dict[str, Firing] = {}
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
            oldest.labels(name).set_function(lambda c=channel: oldest_age(c.queue))
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
        ticket = self._ticket = Ticket(done)
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
            firing = Firing(notification, receivers, due)
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
                dropped += drop_repeats(channel, fingerprint)
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
                        ended = resolved_copy(previous.notification, now)
                        ended = msgspec.structs.replace(ended, id=ended_id(ended))
                        self._enqueue(
                            name, Item(ended, "resolved", idempotency_key(ended, "resolved"))
                        )
                receivers_all = receivers + [r for r in previous.receivers if r not in receivers]
            else:
                receivers_all = receivers
            for name in receivers:
                self._enqueue(name, Item(n, "firing", idempotency_key(n, "firing")))
            # Repeats follow the current route; the resolution goes to everyone who heard.
            for name in receivers:
                interval = self._interval(name)
                if interval is not None:
                    due[name] = now + interval
            firing = Firing(n, receivers_all, due)
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
            drop_repeats(channel, n.fingerprint)
            self._enqueue(name, Item(n, "resolved", idempotency_key(n, "resolved")))

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

    def _mute_humans(self, firing: Firing) -> int:
        """Stop ``firing``'s repeats to every receiver but Alertmanager; returns how many queued
        repeats were dropped."""
        dropped = 0
        for name in list(firing.due):
            channel = self._channels.get(name)
            if channel is None or isinstance(channel.receiver, AlertmanagerReceiver):
                continue
            del firing.due[name]
            dropped += drop_repeats(channel, firing.notification.fingerprint)
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

    def _enqueue(self, name: str, item: Item) -> None:
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
