"""Never commit a source record that Faust's stream dropped without handing it to the agent.

Faust's stream iterator (faust/streams.py ``_py_aiter`` and the Cython ``_CStreamIterator``)
skips a message when it is read while flow control is suspended (a rebalance has started) or
when it was fetched under an earlier consumer generation, and then *acks* it "so the lag does
not grow". An acked offset is committed by the next commit, which Faust makes while it waits
for the streams to empty on revocation. The record was never applied by anyone, and its
partition's next owner resumes after it: a lost event, on every worker that fetched ahead when
a rebalance began. (Found by reading Faust 0.11's stream code; the fault tests have not
shown it in a log line yet: the gaps they show come from records Faust drops when it clears
its stream queues at the end of a rebalance, streams/ordering.py and streams/stalls.py.)

The skip happens before Faust *tracks* the message (``message.tracked`` stays False): every
message the agent receives is tracked first. So an untracked message at its final ack is
marked done (nothing waits for it) but not acknowledged to the consumer: its offset is not
committed, and it is fetched again by whoever owns the partition next (this worker after its
seek to the committed offset, or the new owner). The engine skips records it already applied,
so at worst a record is read twice. Faust acks on two paths, and :func:`install_ack_guard`
covers both: the compiled stream iterator (``faust._cython.streams.StreamIterator.after``,
used whenever Faust's extension is built, which inlines the ack) is replaced by a subclass
that marks the message done first; the pure-Python path (``NO_CYTHON``) goes through
``ConsumerMessage.on_final_ack``, which is wrapped.

Skipped records are counted per topic in :data:`skipped` for the worker's metric and log.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

import faust.streams
from faust.types.tuples import TP, ConsumerMessage, ack_lock

__all__ = ["ack_offsets", "dedupe_acked", "install_ack_guard", "skipped"]

guarded_topics: set[str] = set()
"""The source topics whose skipped messages are held back from commit (the agent's topics)."""

skipped: Counter[str] = Counter()
"""Messages Faust's stream skipped (not committed by us), per topic, since last read."""

_original_on_final_ack = ConsumerMessage.on_final_ack


def settle_if_skipped(message: Any) -> bool:
    """Mark ``message`` done without committing it if Faust's stream skipped it; True then."""
    if message.tracked or message.acked or message.topic not in guarded_topics:
        return False
    message.acked = True
    skipped[message.topic] += 1
    return True


def _on_final_ack(self: ConsumerMessage, consumer: Any) -> bool:
    if settle_if_skipped(self):
        return False
    return bool(_original_on_final_ack(self, consumer))


_CompiledIterator: Any = faust.streams._CStreamIterator


if _CompiledIterator is not None:

    class GuardedStreamIterator(_CompiledIterator):  # type: ignore[misc, valid-type]
        """Faust's compiled stream iterator, settling a skipped message before its ack."""

        def after(self, event: Any, do_ack: Any, sensor_state: Any) -> Any:
            if event is not None:
                settle_if_skipped(event.message)
            return super().after(event, do_ack, sensor_state)


def install_ack_guard(topics: Iterable[str]) -> None:
    """Guard both of Faust's ack paths for ``topics`` (idempotent; call before the app
    starts)."""
    guarded_topics.update(topics)
    if ConsumerMessage.on_final_ack is not _on_final_ack:
        ConsumerMessage.on_final_ack = _on_final_ack  # type: ignore[method-assign]
    if _CompiledIterator is not None:
        faust.streams._CStreamIterator = GuardedStreamIterator


def ack_offsets(consumer: Any, topic: str, partition: int, start: int, end: int) -> int:
    """Mark offsets ``start`` to ``end - 1`` of a partition acked in Faust's consumer, as its
    stream would have had it delivered them; how many were new.

    For the records the agent read itself (a gap, streams/gap_fill.py): Faust commits a
    partition only up to the first offset not acked, so without this its commits stop at the
    gap for good (the lag never drains). Call it in the same stretch of code, with no await,
    that applies the batch holding the gap's records and buffers its changelog records:
    Faust's commit, which flushes the producer first, can then never cover them before their
    state is on its way.
    """
    tp = TP(topic, partition)
    added = 0
    with ack_lock:
        # Faust records a jump in the offsets it fetched as a gap interval (including the
        # offset it jumped to) and adds the interval to the acked offsets at its next commit,
        # without looking for duplicates. Its commit stops at the first duplicate, so a gap
        # acked here as well made it commit one offset per commit interval (a restarted
        # worker's lag crept down by one a second). These offsets are acked here: drop them
        # from Faust's interval.
        faust_gaps = consumer._gap.get(tp)
        if faust_gaps:
            faust_gaps.chop(start, end)
        committed = consumer._committed_offset[tp]
        acked_index = consumer._acked_index[tp]
        acked = consumer._acked[tp]
        for offset in range(start, end):
            if (committed is None or offset >= committed) and offset not in acked_index:
                acked_index.add(offset)
                acked.append(offset)
                added += 1
        consumer._n_acked += added
    return added


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
