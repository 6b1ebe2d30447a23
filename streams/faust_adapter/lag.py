"""Consumer lag per source partition, from the consumer's own highwater mark.

Lag = highwater - committed offset: the messages of a partition this worker owns that are not
yet processed and committed (what a crash right now would make the next owner re-read).

The highwater is the one the consumer learns from every fetch response (Faust's
``consumer.highwater(tp)``), never a ListOffsets "latest" request: the embedded broker answers
that wrongly for multi-record producer batches (see :mod:`streams.broker.embedded`), and the fetch
highwater is what Faust itself uses. The committed offset is Faust's own record of it: seeded from
the broker when the partition is assigned, advanced by each commit, dropped on revocation (so a
partition this worker lost leaves no stale series). Before the first commit of a partition the
lag counts from offset 0. The consumer's fetch position is never used: it runs ahead of
processing by whatever is buffered.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from faust.types.tuples import TP
from prometheus_client import Gauge

__all__ = [
    "committed_offset",
    "handed_over",
    "partition_highwaters",
    "partition_lags",
    "update_lag_gauge",
]

PartitionKey = tuple[str, int]


def partition_highwaters(consumer: Any, topics: Collection[str]) -> dict[PartitionKey, int]:
    """{(topic, partition): highwater} for the assigned partitions of ``topics``.

    ``consumer`` is a Faust consumer (``app.consumer``); a partition whose highwater is not
    known yet (nothing fetched since the assignment) is left out rather than guessed, and a
    consumer that is not running reports none.
    """
    try:
        assigned = consumer.assignment()
    except Exception:  # ConsumerNotStarted, or stopping: no assignment to report
        return {}
    highwaters: dict[PartitionKey, int] = {}
    for tp in assigned:
        if tp.topic in topics:
            highwater = consumer.highwater(tp)
            if highwater is not None:
                highwaters[(tp.topic, tp.partition)] = int(highwater)
    return highwaters


def committed_offset(consumer: Any, key: PartitionKey) -> int | None:
    """The offset Faust's consumer last committed (or found committed) for ``key`` (topic,
    partition): the next one to read. None: nothing, or 0 (Faust keeps a committed 0 as None),
    or the seek of a new assignment has not happened yet."""
    # Faust keeps the committed offsets here (no public accessor; checked at import:
    # streams/faust_adapter/private_names.py).
    offset = consumer._committed_offset.get(TP(*key))
    return None if offset is None else int(offset)


def handed_over(consumer: Any, key: PartitionKey, highwater: int) -> int:
    """One past the last offset of ``key`` that Faust's consumer handed over (its read offset,
    kept by streams/faust_adapter/batch_fetch.py), at most ``highwater``; 0 if it handed over
    nothing since the assignment.

    Records up to there were given to the checkpoint or dropped at a rebalance (fetched, not
    yet applied); records beyond are still to come. A busy worker's fetcher can leave a
    partition waiting for many seconds, which is not a stall.
    """
    offset = consumer._read_offset.get(TP(*key))
    return 0 if offset is None else min(highwater, int(offset) + 1)


def partition_lags(
    highwaters: Mapping[PartitionKey, int], committed: Callable[[PartitionKey], int | None]
) -> dict[PartitionKey, int]:
    """{(topic, partition): lag} for the partitions of ``highwaters``, given the committed
    offset of each."""
    lags: dict[PartitionKey, int] = {}
    for key, highwater in highwaters.items():
        # Nothing committed yet: Faust keeps a committed 0 as None, and before the group's first
        # commit the consumer reads from the start of the log (auto_offset_reset=earliest),
        # offset 0 unless retention has deleted old segments (then this overstates the lag
        # until the first commit, a second later). No broker request: an offsets request from
        # here waits on Faust's consumer thread for seconds while it fetches.
        lags[key] = max(0, highwater - (committed(key) or 0))
    return lags


def update_lag_gauge(gauge: Gauge, lags: Mapping[PartitionKey, int]) -> None:
    """Replace every series of ``ccpulse_consumer_lag`` with ``lags`` (no stale partitions)."""
    gauge.clear()
    for (topic, partition), lag in lags.items():
        gauge.labels(topic, str(partition)).set(lag)
