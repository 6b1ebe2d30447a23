"""The checkpoint's acks, written into Faust's consumer bookkeeping so Faust commits them.

Source records never pass through Faust's streams (streams/faust_adapter/batch_fetch.py), so
nothing of Faust acks them: the checkpoint does (through
:meth:`streams.faust_adapter.source.FaustSource.mark_committable`), per applied batch
(:func:`ack_records`) and per gap it read itself (:func:`ack_offsets`), exactly as
``Consumer.ack`` would have, into the same acked lists ``Consumer._new_offset`` commits from.
They are called once the batch's changelog records (and whatever else it produced) are in Kafka
(streams/worker/delivery.py): Faust's commit can then never cover an offset before its state is
in Kafka. :class:`streams.faust_adapter.consumer.BatchConsumer` commits with :func:`new_offset`.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from typing import Any

from faust.transport.consumer import Consumer as FaustConsumer
from faust.types.tuples import TP, ack_lock

from streams.worker.ordering import consecutive

__all__ = ["ack_offsets", "ack_records", "dedupe_acked", "new_offset"]


def _ack(consumer: Any, tp: TP, offsets: Iterable[int]) -> int:
    """Add ``offsets`` of ``tp`` to Faust's acked offsets (hold ``ack_lock``); how many were
    new. Offsets below the committed one or already acked are left out, as Faust's own ack
    does: its commit stops at the first duplicate."""
    committed = consumer._committed_offset[tp]
    acked_index = consumer._acked_index[tp]
    acked = consumer._acked[tp]
    added = 0
    for offset in offsets:
        if (committed is None or offset >= committed) and offset not in acked_index:
            acked_index.add(offset)
            acked.append(offset)
            added += 1
    consumer._n_acked += added
    return added


def _ack_run(consumer: Any, tp: TP, run: Sequence[Any], known: bool) -> int | None:
    """Ack a run of records of ``tp``: the same as :func:`_ack` over their offsets, in C, when
    they are consecutive (``known``: the caller says so), at or above the committed offset and
    acked for the first time (the usual case); None otherwise (ack them one by one)."""
    first = run[0].offset
    if not (known or consecutive(run, first)):
        return None
    committed = consumer._committed_offset[tp]
    if committed is not None and first < committed:
        return None
    offsets = range(first, first + len(run))
    acked_index = consumer._acked_index[tp]
    if not acked_index.isdisjoint(offsets):
        return None
    acked_index.update(offsets)
    consumer._acked[tp].extend(offsets)
    consumer._n_acked += len(run)
    return len(run)


def ack_records(consumer: Any, runs: Iterable[Sequence[Any]], consecutive: bool = False) -> int:
    """Ack every record of a batch the checkpoint applied (or dropped as dead-lettered or
    re-keyed), given as runs of one partition's records; how many offsets were new.
    ``consecutive``: each run is known to hold consecutive offsets (planned runs,
    streams/worker/ordering.py), so that is not checked again."""
    added = 0
    with ack_lock:
        for run in runs:
            if not run:
                continue
            tp = TP(run[0].topic, run[0].partition)
            fast = _ack_run(consumer, tp, run, consecutive)
            added += _ack(consumer, tp, [r.offset for r in run]) if fast is None else fast
    return added


def ack_offsets(consumer: Any, topic: str, partition: int, start: int, end: int) -> int:
    """Mark offsets ``start`` to ``end - 1`` of a partition acked in Faust's consumer, as its
    stream would have had it delivered them; how many were new.

    For the records the checkpoint read itself (a gap, streams/worker/gap_fill.py): Faust commits a
    partition only up to the first offset not acked, so without this its commits stop at the
    gap for good (the lag never drains). Called, like :func:`ack_records`, once the changelog
    records of the batch holding the gap's records are in Kafka.
    """
    tp = TP(topic, partition)
    with ack_lock:
        # Faust records a jump in the offsets it delivered itself as a gap interval (including
        # the offset it jumped to) and adds it to the acked offsets at its next commit, without
        # looking for duplicates; its commit stops at the first duplicate (one offset per commit
        # interval, seen before source records bypassed Faust's delivery). Drop these offsets
        # from any such interval.
        faust_gaps = consumer._gap.get(tp)
        if faust_gaps:
            faust_gaps.chop(start, end)
        return _ack(consumer, tp, range(start, end))


def dedupe_acked(consumer: Any, topic: str, partition: int) -> int:
    """Sort Faust's acked offsets of a partition and drop duplicates; how many were dropped.

    Faust commits the first run of consecutive acked offsets (``Consumer._new_offset``), and a
    duplicate ends a run: each one costs a commit interval. Duplicates come from Faust's own gap
    intervals, which overlap the offset that ended the gap and anything acked since.
    """
    tp = TP(topic, partition)
    with ack_lock:
        acked = consumer._acked.get(tp)
        if not acked:
            return 0
        unique = sorted(set(acked))
        dropped = len(acked) - len(unique)
        acked[:] = unique
    return dropped


_faust_new_offset = FaustConsumer._new_offset


def new_offset(consumer: Any, tp: TP) -> int | None:
    """What Faust's ``Consumer._new_offset`` returns (the offset its commit moves ``tp`` to:
    one past the first run of consecutive acked offsets), with the same changes to the acked
    list and index, found in C.

    Faust walks the acked offsets one at a time in Python at every commit (``groupby`` over
    ``enumerate``): with a whole fetch acked per batch, 2 to 4 % of the worker's samples in
    ``make bench``. Sorted and without duplicates (what :func:`_ack` keeps), offsets minus
    their index never decrease, so the end of the first run is found by bisection. With a gap
    interval of Faust's own or an offset acked twice, Faust's code runs instead."""
    acked: list[int] = consumer._acked[tp]
    if not acked or consumer._gap[tp]:
        return _faust_new_offset(consumer, tp)
    acked.sort()
    if len(set(acked)) != len(acked):
        return _faust_new_offset(consumer, tp)
    committed = consumer._committed_offset[tp]
    if committed and acked[0] - committed > 1:
        return None
    first = acked[0]
    end = bisect.bisect_right(range(len(acked)), first, key=lambda index: acked[index] - index)
    batch = acked[:end]
    del acked[:end]
    consumer._acked_index[tp].difference_update(batch)
    return batch[-1] + 1
