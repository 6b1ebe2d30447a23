"""Never commit a source record that Faust's stream dropped without handing it to the agent.

Faust's stream iterator (faust/streams.py ``_py_aiter`` and the Cython ``_CStreamIterator``)
skips a message when it is read while flow control is suspended (a rebalance has started) or
when it was fetched under an earlier consumer generation, and then *acks* it "so the lag does
not grow". An acked offset is committed by the next commit, which Faust makes while it waits
for the streams to empty on revocation. The record was never applied by anyone, and its
partition's next owner resumes after it: a lost event, on every worker that fetched ahead when
a rebalance began. (Found by reading Faust 0.11's stream code; the fault tests have not
shown it in a log line yet: the one-record gaps they show come from a takeover starting one
record late, streams/ordering.py.)

The skip happens before Faust *tracks* the message (``message.tracked`` stays False): every
message the agent receives is tracked first. :func:`install_ack_guard` therefore wraps
``ConsumerMessage.on_final_ack`` so an untracked message is marked done (nothing waits for it)
but not acknowledged to the consumer: its offset is not committed, and it is fetched again by
whoever owns the partition next (this worker after its seek to the committed offset, or the new
owner). The engine skips records it already applied, so at worst a record is read twice.

Skipped records are counted per topic in :data:`skipped` for the worker's metric and log.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from faust.types.tuples import ConsumerMessage

__all__ = ["install_ack_guard", "skipped"]

skipped: Counter[str] = Counter()
"""Messages Faust's stream skipped (not committed by us), per topic, since last read."""

_original_on_final_ack = ConsumerMessage.on_final_ack


def _on_final_ack(self: ConsumerMessage, consumer: Any) -> bool:
    if not self.tracked:
        self.acked = True
        skipped[self.topic] += 1
        return False
    return bool(_original_on_final_ack(self, consumer))


def install_ack_guard() -> None:
    """Wrap ``ConsumerMessage.on_final_ack`` (idempotent; call before the app starts)."""
    if ConsumerMessage.on_final_ack is not _on_final_ack:
        ConsumerMessage.on_final_ack = _on_final_ack  # type: ignore[method-assign]
