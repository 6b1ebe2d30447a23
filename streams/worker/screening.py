"""The worker's refusals after decoding: admission before the engine, and the engine's own.

:mod:`streams.worker.batching` refuses what is not a valid event; this refuses what is valid but
must
not be counted (processors/admission.py: a future or absurd event time, a queue beyond the
cap), before the engine sees it, and takes those events out of the batch's changelog delta, so
that a recovery never applies them either. Events the engine itself refused (an id reused for
another event, an event its handler raised on) stay in the delta: a recovery applies the same
events to the same state and refuses them again, so only this worker's copy is dead-lettered.
Both kinds come back as (message, failure) pairs for the dead-letter topic.
"""

from __future__ import annotations

from collections.abc import Iterable

from processors.admission import Admission
from processors.engine import Item, KpiEngine, source_key
from processors.events import Event
from streams.worker.batching import DecodedBatch, RefusedMessage, SourceMessage
from streams.worker.codec import DecodeFailure

__all__ = ["engine_refusals", "screen_batch"]


def screen_batch(
    decoded: DecodedBatch, admission: Admission, engine: KpiEngine, now: float
) -> list[tuple[SourceMessage, DecodeFailure]]:
    """Take the events ``admission`` refuses out of ``decoded`` (its groups, changelog runs and
    counts), and return their messages with why."""
    refused = admission.screen(decoded.by_queue, engine.queues, now)
    if not refused:
        return []
    return _failures(decoded, ((item, r.reason_code, r.reason) for item, r in refused), True)


def engine_refusals(
    decoded: DecodedBatch, refused: list[tuple[Item, str, str]]
) -> list[tuple[SourceMessage, DecodeFailure]]:
    """The messages of the events the engine refused (``BatchResult.refused``), with why."""
    if not refused:
        return []
    return _failures(decoded, refused, False)


def _failures(
    decoded: DecodedBatch, refused: Iterable[tuple[Item, str, str]], remove: bool
) -> list[tuple[SourceMessage, DecodeFailure]]:
    why: dict[tuple[str, int], DecodeFailure] = {}
    events: dict[tuple[str, int], Event] = {}
    for (event, key, offset), code, reason in refused:
        assert key is not None  # the worker's events always have a source position
        events[key, offset] = event
        why[key, offset] = DecodeFailure(reason, code)
    messages: list[RefusedMessage] = decoded.originals(events, remove)
    return [(m, why[source_key(m.topic, m.partition), m.offset]) for m in messages]
