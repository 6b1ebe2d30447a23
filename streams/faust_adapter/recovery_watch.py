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

If the recovery still reads nothing after :data:`MAX_RESTARTS` restarts in a row, the worker
stops (exit status 1, as after a failed changelog write): the group gives its partitions to the
others, and an orchestrator that restarts it (Kubernetes, systemd) brings up a fresh consumer.
A worker that holds partitions it never processes is worse than one that restarts.

The warning also says whether the worker's drain loop is running (fetches asked for) and how
many changelog records it handed to Faust since the last check, to tell a fetch that returns
nothing from records that never reach the recovery.

The recovery's signal and its counters are public attributes of Faust's ``Recovery``; the
watch needs nothing private.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from streams.logs import log

__all__ = ["MAX_RESTARTS", "RecoveryWatch"]

logger = logging.getLogger("ccpulse.worker")

MAX_RESTARTS = 3
"""Restarts in a row without progress after which the worker stops."""


class RecoveryStuck(RuntimeError):
    """The table recovery read nothing through :data:`MAX_RESTARTS` restarts."""


class RecoveryWatch:
    """Watches Faust's table recovery; :meth:`check` once a second."""

    def __init__(
        self,
        app: Any,
        seconds: float,
        restarts: Any = None,
        describe: Callable[[], dict[str, Any]] | None = None,
        stop: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.app = app
        self.seconds = seconds
        """How long the remaining record count may stand still before the restart."""
        self.restarts = restarts
        """A Prometheus counter of restarts (None: not counted)."""
        self.describe = describe
        """More fields for the warning (the drain loop's counters)."""
        self.stop = stop
        """Stops the worker after :data:`MAX_RESTARTS` restarts without progress."""
        self._since: tuple[int, float] | None = None
        self._in_a_row = 0

    async def check(self, now: float) -> bool:
        """Restart the recovery if it is stuck at ``now`` (a monotonic time); True if it did."""
        recovery = self.app.tables.recovery
        remaining = recovery.active_remaining_total() if recovery.in_recovery else 0
        if remaining <= 0:
            self._since, self._in_a_row = None, 0
            return False
        if self._since is None or self._since[0] != remaining:
            if self._since is not None:
                self._in_a_row = 0  # it moved
            self._since = (remaining, now)
            return False
        if now - self._since[1] < self.seconds:
            return False
        giving_up = self._in_a_row >= MAX_RESTARTS and self.stop is not None
        await self._log_stuck(recovery, remaining, now - self._since[1], giving_up)
        self._since = (remaining, now)
        if giving_up:
            error = RecoveryStuck(
                f"table recovery read nothing through {MAX_RESTARTS} restarts "
                f"({remaining} changelog records left)"
            )
            log(logger, "stopping the worker", logging.CRITICAL, reason=str(error))
            self.stop(error)
            return False
        self._in_a_row += 1
        if self.restarts is not None:
            self.restarts.inc()
        recovery.signal_recovery_start.set()
        return True

    async def _log_stuck(
        self, recovery: Any, remaining: int, waited: float, giving_up: bool
    ) -> None:
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
            "table recovery made no progress: "
            + ("giving up" if giving_up else "starting it again"),
            logging.WARNING,
            remaining=remaining,
            waited_seconds=round(waited, 1),
            restarts_in_a_row=self._in_a_row,
            partitions="; ".join(parts) or "-",
            **(self.describe() if self.describe is not None else {}),
        )
