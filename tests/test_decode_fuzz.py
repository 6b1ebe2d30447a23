"""Fuzzing the decode path: no bytes and no JSON a source can send raise out of it.

Bounded (a few hundred examples each, a few seconds in all) so that it runs in ``make test``.
Each example goes through the worker's whole per-batch decode (streams/worker/batching.py: the C-pass
fast path and the one-by-one fallback) and the admission checks, with a good event before and
after it, which must come out applied whatever the middle record is.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processors.admission import Admission
from processors.engine import KpiEngine
from processors.events import TELEPHONY_TYPES, TICKETING_TYPES, type_name
from processors.settings import EngineSettings
from streams.worker.batching import decode_batch
from streams.worker.codec import DecodeFailure, decode_event
from streams.worker.deadletter import deadletter_record
from streams.worker.screening import screen_batch
from tests.test_hostile_input import Message

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC).timestamp()
GOOD = json.dumps(
    {
        "type": "call.entered",
        "id": "good",
        "time": "2026-11-22T10:00:00Z",
        "queue": "billing",
        "call_id": "good",
    }
).encode()
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TYPES = [type_name(kind) for kind in (*TELEPHONY_TYPES, *TICKETING_TYPES)]


def decode_around(value: Any) -> None:
    """Decode [good, value, good'] as one run, screen it and engine-apply it: never raises, and
    both good events come out applied."""
    second = GOOD.replace(b'"good"', b'"good-2"').replace(b":00Z", b":02Z")
    run = [
        Message("tel", 0, 0, b"billing", GOOD),
        Message("tel", 0, 1, b"billing", value),
        Message("tel", 0, 2, b"billing", second),
    ]
    batch = decode_batch([run], 65_536)
    engine = KpiEngine()
    screen_batch(batch, Admission(EngineSettings()), engine, NOW)
    engine.apply_grouped(batch.by_queue)
    assert {"good", "good-2"} <= set(engine.queues["billing"].seen["telephony"])
    for message, failure in batch.failures:
        record = deadletter_record(message.value or b"", failure.reason, failure.reason_code, {})
        assert len(record) < 100_000


@FUZZ
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise_out_of_the_decode_path(data: bytes) -> None:
    assert isinstance(
        decode_event(data, 65_536), (DecodeFailure, *TELEPHONY_TYPES, *TICKETING_TYPES)
    )
    decode_around(data)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)
fields = st.sampled_from(
    [
        "id",
        "time",
        "queue",
        "call_id",
        "agent",
        "state",
        "wait_seconds",
        "talk_seconds",
        "ticket_id",
        "to_queue",
        "due_at",
        "reason",
        "customer",
        "csat",
        "v",
        "priority",
        "status",
    ]
)
times = st.datetimes(timezones=st.just(UTC)).map(lambda t: t.isoformat()) | st.text(max_size=40)


@FUZZ
@given(
    st.sampled_from(TYPES),
    st.dictionaries(fields, json_values | times, max_size=8),
    st.integers(min_value=0, max_value=3000),
)
def test_arbitrary_json_events_never_raise_out_of_the_decode_path(
    kind: str, body: dict[str, Any], depth: int
) -> None:
    document = {"type": kind, "id": "x", "time": "2026-11-22T10:00:01Z", "queue": "billing", **body}
    text = json.dumps(document)  # NaN and Infinity as JavaScript writes them: not JSON
    decode_around(text.encode())
    nested = text[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}"
    decode_around(nested.encode())
