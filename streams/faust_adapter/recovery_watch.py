"""Restart a table recovery that stopped making progress.

After a rebalance Faust rebuilds the table from its changelog: it seeks the changelog
partitions to where their state starts, resumes fetching, and waits until every record up to
the highwater has come through. In the fault tests (a worker SIGKILLed, another SIGTERMed, on
Apache Kafka 4.3.2; once in CI, once in ten local runs) a surviving worker's recovery never
received a single changelog record: Faust logged "No event received for active tp ... since
recovery start" every 5 s, the worker never became ready, and the lag of the partitions it
had been given never drained, while the fetcher kept running. Faust has no timeout of its own
here: it waits forever.

:class:`RecoveryWatch` notices the same thing (a recovery whose remaining record count has not
moved for ``worker.recovery_stall_seconds``), logs what Faust knows of each partition (the
offset it has, the highwater it needs, the consumer's position), counts it in
``ccpulse_table_recovery_restarts_total``, and starts the recovery again the way a new rebalance
does: it sets Faust's recovery signal, so Faust seeks the changelog partitions again and
resumes them. Progress already made is kept (Faust keeps the offsets it has read). A recovery
that moves, however slowly, is never restarted.

The recovery's signal and its counters are public attributes of Faust's ``Recovery``; the
watch needs nothing private.
"""

from __future__ import annotations

import logging
from typing import Any

from streams.logs import log

__all__ = ["RecoveryWatch"]

logger = logging.getLogger("ccpulse.worker")


class RecoveryWatch:
    """Watches Faust's table recovery; :meth:`check` once a second."""

    def __init__(self, app: Any, seconds: float, restarts: Any = None) -> None:
        self.app = app
        self.seconds = seconds
        """How long the remaining record count may stand still before the restart."""
        self.restarts = restarts
        """A Prometheus counter of restarts (None: not counted)."""
        self._since: tuple[int, float] | None = None

    async def check(self, now: float) -> bool:
        """Restart the recovery if it is stuck at ``now`` (a monotonic time); True if it did."""
        recovery = self.app.tables.recovery
        remaining = recovery.active_remaining_total() if recovery.in_recovery else 0
        if remaining <= 0:
            self._since = None
            return False
        if self._since is None or self._since[0] != remaining:
            self._since = (remaining, now)
            return False
        if now - self._since[1] < self.seconds:
            return False
        await self._log_stuck(recovery, remaining, now - self._since[1])
        if self.restarts is not None:
            self.restarts.inc()
        self._since = (remaining, now)
        recovery.signal_recovery_start.set()
        return True

    async def _log_stuck(self, recovery: Any, remaining: int, waited: float) -> None:
        consumer = self.app.consumer
        parts = []
        for tp, left in sorted(recovery.active_remaining().items()):
            if left <= 0:
                continue
            try:
                position = await consumer.position(tp)
            except Exception as exc:  # a consumer in the middle of a rebalance: say so
                position = type(exc).__name__
            parts.append(
                f"{tp.topic}[{tp.partition}] offset={recovery.active_offsets.get(tp)} "
                f"highwater={recovery.active_highwaters.get(tp)} position={position}"
            )
        log(
            logger,
            "table recovery made no progress: starting it again",
            logging.WARNING,
            remaining=remaining,
            waited_seconds=round(waited, 1),
            partitions="; ".join(parts) or "-",
        )
