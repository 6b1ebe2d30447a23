"""The dispatcher's two kinds of background task (part of
:class:`~streams.alerting.dispatch.Dispatcher`, a mixin): one per receiver that delivers its
queue in order, retrying the head with backoff until it goes through or is given up; and the
scheduler that enqueues repeats (and Alertmanager re-posts) of firing alerts when due."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter

from streams.alerting.config import (
    AlertmanagerReceiver,
    EmailReceiver,
    SlackReceiver,
)
from streams.alerting.delivery_queue import (
    Channel,
    FailureHook,
    Firing,
    Item,
    backoff_delay,
    discard,
    idempotency_key,
)
from streams.alerting.notification import Notification
from streams.alerting.payloads import (
    alertmanager_payload,
    email_message,
    slack_payload,
    webhook_payload,
)
from streams.alerting.senders import DeliveryError
from streams.logs import log

__all__ = ["IDLE_WAKEUP_SECONDS", "DeliveryTasks"]

logger = logging.getLogger("ccpulse.alerting")

IDLE_WAKEUP_SECONDS = 60.0
"""Longest sleep of the repeat scheduler with nothing due."""


class DeliveryTasks:
    """The tasks' half of the dispatcher: it needs the dispatcher's channels, firing alerts,
    metrics and hooks."""

    _channels: dict[str, Channel]
    _firing: dict[str, Firing]
    _tick: asyncio.Event
    _closing: bool
    _rng: random.Random
    _sent: Counter
    _failures: Counter
    _dropped: Counter
    on_failed: FailureHook | None
    muted: Callable[[Notification], bool] | None

    def _interval(self, name: str) -> float | None:
        raise NotImplementedError

    def _enqueue(self, name: str, item: Item) -> None:
        raise NotImplementedError

    async def _schedule(self) -> None:
        """Enqueue repeats (and Alertmanager re-posts) of firing alerts when due."""
        while not self._closing:
            now = time.time()
            wake_at = now + IDLE_WAKEUP_SECONDS
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
                            key = idempotency_key(firing.notification, "repeat", firing.repeats)
                            self._enqueue(name, Item(firing.notification, "repeat", key))
                        due = firing.due[name] = now + interval
                    wake_at = min(wake_at, due)
            self._tick.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._tick.wait(), timeout=max(0.01, wake_at - time.time()))

    async def _deliver(self, channel: Channel) -> None:
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
                discard(channel.queue, item)
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
                discard(channel.queue, item)
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

    def _given_up(self, receiver: str, item: Item, reason: str, error: str) -> None:
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

    def _body(self, channel: Channel, item: Item) -> Any:
        receiver, n, now = channel.receiver, item.notification, time.time()
        if isinstance(receiver, AlertmanagerReceiver):
            return alertmanager_payload(n, receiver, now)
        if isinstance(receiver, SlackReceiver):
            return slack_payload(n, item.kind, receiver)
        if isinstance(receiver, EmailReceiver):
            return email_message(n, item.kind, item.key, receiver, now)
        return webhook_payload(n, item.kind, item.key, now)
