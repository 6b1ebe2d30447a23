"""The event contract: docs/events.md examples decode, the committed schema is current, and bad
input is classified for the dead-letter topic."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import msgspec
import pytest

from processors.events import Event, TicketMovedIn
from streams.commands.schema import event_schema
from streams.worker.codec import DecodeFailure, decode_event, encode_event
from streams.worker.deadletter import deadletter_record

DOCS = Path(__file__).resolve().parents[1] / "docs"


def documented_examples() -> list[str]:
    text = (DOCS / "events.md").read_text()
    return re.findall(r"```json\n(.*?)\n```", text, flags=re.S)


def test_every_documented_example_decodes_and_every_type_is_documented() -> None:
    examples = documented_examples()
    decoded = [decode_event(example.encode()) for example in examples]
    failures = [d for d in decoded if isinstance(d, DecodeFailure)]
    assert not failures, failures
    documented = {type(d) for d in decoded}
    assert documented == set(Event.__args__)  # type: ignore[attr-defined]


def test_the_committed_schema_is_generated_from_the_types() -> None:
    committed = json.loads((DOCS / "event-schema.json").read_text())
    assert committed == json.loads(json.dumps(event_schema())), (
        "run: ccpulse schema -o docs/event-schema.json"
    )


def test_round_trip_keeps_every_field() -> None:
    for example in documented_examples():
        event = decode_event(example.encode())
        assert not isinstance(event, DecodeFailure)
        assert decode_event(encode_event(event)) == event


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"\xff\x00", "not_json"),
        (b"", "not_json"),
        (
            b'{"type": "call.teleported", "id": "1", "time": "2026-11-22T10:00:00Z", "queue": "q"}',
            "unknown_type",
        ),
        (
            b'{"type": "call.entered", "id": "1", "time": "2026-11-22T10:00:00", "queue": "q", "call_id": "c"}',
            "invalid",
        ),
        (
            b'{"type": "call.entered", "id": "", "time": "2026-11-22T10:00:00Z", "queue": "q", "call_id": "c"}',
            "invalid",
        ),
        (
            b'{"type": "survey.response", "id": "1", "time": "2026-11-22T10:00:00Z", "queue": "q", "csat": 9}',
            "invalid",
        ),
        (
            b'{"v": 2, "type": "call.blocked", "id": "1", "time": "2026-11-22T10:00:00Z", "queue": "q", "call_id": "c"}',
            "invalid",
        ),
    ],
)
def test_bad_input_is_classified(raw: bytes, code: str) -> None:
    failure = decode_event(raw)
    assert isinstance(failure, DecodeFailure)
    assert failure.reason_code == code
    assert failure.reason


def test_dead_letter_record_keeps_the_exact_bytes() -> None:
    raw = b"\xff\xfe{broken"
    record = json.loads(
        deadletter_record(raw, "bad", "not_json", {"topic": "t", "partition": 1, "offset": 5})
    )
    assert base64.b64decode(record["original_base64"]) == raw
    assert "original_text" not in record  # not UTF-8
    assert record["source"] == {"topic": "t", "partition": 1, "offset": 5}


def test_unknown_extra_fields_are_tolerated() -> None:
    raw = b'{"type": "call.blocked", "id": "1", "time": "2026-11-22T10:00:00+01:00", "queue": "q", "call_id": "c", "trunk": "x"}'
    event = decode_event(raw)
    assert not isinstance(event, DecodeFailure)
    assert event.time.timestamp() == 1795338000.0


def test_moved_in_is_part_of_the_contract() -> None:
    schema = msgspec.json.schema(TicketMovedIn)
    assert "from_queue" in json.dumps(schema)
