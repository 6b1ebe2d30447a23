"""Find partitions whose records stopped reaching the checkpoint while the broker holds more.

A rebalance drops records that were fetched and not yet applied: the revocation clears what the
checkpoint had not taken yet (streams/worker/recovery.py, as Faust clears its own stream queues
when it resumes flow), and the consumer's read position is already past them. Faust seeks back,
at the end of the rebalance, only the partitions that have a committed offset. The next record
of such a partition shows the hole and the checkpoint reads the missing offsets straight from
Kafka (streams/worker/ordering.py, streams/worker/gap_fill.py); but on a partition that receives
nothing more (a quiet queue at night, the end of a test's stream) there is no next record. Its
events are then missing from the KPIs, its offsets are never committed and its lag never drains
(found in the fault tests, when Faust's stream still delivered the records: a restarted worker's
partition stuck at a lag of 114 with nothing ever committed).

:class:`StallWatch` is the detector: a partition whose next expected offset stays below the last
offset Faust's consumer handed over (streams/faust_adapter/lag.py ``handed_over``), unchanged
for ``seconds``, is stalled. The worker then reads the offsets from the expected one up to there
(at most a batch) itself, like a gap (streams/worker/stall_reader.py). Records in flight
normally move the expected offset long before then; if Faust does deliver the same records
later, they are dropped as re-deliveries. Records Faust has not handed over yet do not count:
with a backlog, a busy worker's fetcher left partitions waiting for more than 5 s, and measuring
against the highwater made the worker read them itself (38 times in one ``make bench`` run).

The same watch finds a partition whose *commits* stopped: Faust commits the first run of
consecutive acked offsets after its committed one, and a duplicate in its acked list ends that
run. Faust made such duplicates itself while it delivered the source records: it recorded a jump
in the fetched offsets as a gap interval, the offset it jumped to included, and added the
interval to the acked list at its next commit without looking. The worker's own drain loop no
longer records gap intervals for the source topics (streams/faust_adapter/batch_fetch.py), so
this watch is now a safety net for offsets applied and not acked by any other path. A full test
run showed a restarted worker's committed offset creeping up by one a second (38, 39, 40... with
everything to 63 applied and acked); an earlier run failed on a lag of ~800 that crept down for
90 s. Once Faust's committed offset stays below the checkpoint's expected one, and that has not
moved for ``seconds``, the worker drops the duplicates and acks any offset in between that is
missing (each was applied, and its changelog delta is buffered before Faust's commit flushes the
producer), and Faust commits them (streams/faust_adapter/acks.py, which also keeps a gap read by
the worker out of Faust's interval).

A third watch covers a partition Faust hands over nothing of at all: behind its highwater while
Faust's read offset stands for ``worker.stopped_partition_seconds`` (longer: a busy fetcher can
leave a partition waiting that long), as on a worker restarted after a SIGKILL that received no
record for the 90 s its test waited. It is read the same way, up to the highwater.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Behind", "StallWatch"]

Key = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Behind:
    """Where one partition stands: a position and the target it should reach. For reading,
    the checkpoint's next expected offset and how far Faust's consumer handed records over (or the
    highwater); for commits, Faust's committed offset and the checkpoint's next expected offset."""

    position: int
    target: int
    progress: int | None = None
    """The value whose change shows the partition is moving (restarting the wait); None: the
    position. For commits, the checkpoint's expected offset (Faust's committed one may creep up as
    it re-delivers records the checkpoint had applied, and the partition is still stuck); for a
    partition Faust stopped delivering, Faust's read offset."""


class StallWatch:
    """Partitions below their target whose progress has not moved for ``seconds``."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._since: dict[Key, tuple[int, float]] = {}

    def reset(self) -> None:
        """Forget every partition (a rebalance: who owns what, and where, starts again)."""
        self._since.clear()

    def stalled(self, partitions: Mapping[Key, Behind], now: float) -> list[Key]:
        """The partitions of ``partitions`` that are stalled at ``now`` (a monotonic time).

        A partition is watched from the first call that sees it behind; it is stalled once a
        call ``seconds`` or more later sees the same progress and still a target above the
        position.
        Partitions not in ``partitions`` (revoked, highwater not known yet) are forgotten.
        """
        since = self._since
        for key in list(since):
            if key not in partitions:
                del since[key]
        found: list[Key] = []
        for key, behind in partitions.items():
            if behind.position >= behind.target:
                since.pop(key, None)
                continue
            moving = behind.position if behind.progress is None else behind.progress
            seen = since.get(key)
            if seen is None or seen[0] != moving:
                since[key] = (moving, now)
            elif now - seen[1] >= self.seconds:
                found.append(key)
        return sorted(found)
