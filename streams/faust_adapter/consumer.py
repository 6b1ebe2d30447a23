"""The worker consumer's fetch wait: the one Faust consumer argument ccpulse needs to set.

Faust's aiokafka driver creates the worker's consumer with ``fetch_max_wait_ms=1500``
hard-coded; no Faust setting reaches it. On Apache Kafka that costs nothing: a fetch is
answered as soon as data is there. The embedded broker (Tansu) often holds a fetch for the
whole wait, so every delivered batch could be up to 1.5 s old before the agent saw it: measured
by ``make bench`` as seconds of freshness latency at 2,000 events/s (docs/performance.md).

:func:`install_fetch_wait` makes Faust's driver build its consumers from
:class:`FetchWaitConsumer`, a subclass of aiokafka's consumer that changes that one argument,
and only for the consumer group of an app registered with it (the Faust worker's consumer,
whose group id is the app id). Every other consumer, in ccpulse or in a library, gets exactly
the arguments it asked for. The wait comes from ``worker.fetch_max_wait_ms``
(streams/config.py: 1500 ms on Apache Kafka, 100 ms on the embedded broker).
"""

from __future__ import annotations

from typing import Any, ClassVar

import aiokafka

__all__ = ["FetchWaitConsumer", "install_fetch_wait"]


class FetchWaitConsumer(aiokafka.AIOKafkaConsumer):  # type: ignore[misc]
    """aiokafka's consumer with ``fetch_max_wait_ms`` replaced for registered groups."""

    waits: ClassVar[dict[str, int]] = {}
    """Consumer group id -> fetch wait (ms), filled by :func:`install_fetch_wait`."""

    def __init__(self, *topics: Any, **kwargs: Any) -> None:
        wait = self.waits.get(kwargs.get("group_id") or "")
        if wait is not None:
            kwargs["fetch_max_wait_ms"] = wait
        super().__init__(*topics, **kwargs)


def install_fetch_wait(group_id: str, fetch_max_wait_ms: int) -> None:
    """Have Faust's driver create the consumer of ``group_id`` with ``fetch_max_wait_ms``.

    Call before the app starts (streams.app.build_app does). Idempotent; a second app in the
    same process registers its own group.
    """
    FetchWaitConsumer.waits[group_id] = fetch_max_wait_ms
    # Faust's driver (faust/transport/drivers/aiokafka.py) looks up ``aiokafka.AIOKafkaConsumer``
    # on the module when it creates its consumer (at worker start), so the subclass must be what
    # that name resolves to by then. Unregistered groups are passed through unchanged.
    if aiokafka.AIOKafkaConsumer is not FetchWaitConsumer:
        aiokafka.AIOKafkaConsumer = FetchWaitConsumer
