"""Hostile input, unit by unit: each record that once stopped or froze a worker (issue 18) is
refused with its reason, and the good events around it are applied."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from processors.admission import Admission
from processors.engine import KpiEngine, source_key
from processors.events import CallEntered, Event
from processors.settings import EngineSettings
from processors.snapshot_cache import SnapshotCache
from streams.worker.batching import decode_batch
from streams.worker.codec import DecodeFailure, decode_event
from streams.worker.deadletter import deadletter_record
from streams.worker.screening import engine_refusals, screen_batch

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC).timestamp()


@dataclass
class Message:
    topic: str
    partition: int
    offset: int
    key: Any
    value: Any


def event(queue: str = "billing", seconds: float = 0.0, **fields: Any) -> dict[str, Any]:
    body = {
        "type": "call.entered",
        "id": f"e-{queue}-{seconds}",
        "time": datetime.fromtimestamp(NOW + seconds, UTC).isoformat(),
        "queue": queue,
        "call_id": f"c-{seconds}",
    }
    body.update(fields)
    return body


def raw(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


def run_of(*values: bytes, queue: str = "billing", topic: str = "tel") -> list[Message]:
    return [Message(topic, 0, i, queue.encode(), v) for i, v in enumerate(values)]


def nested(depth: int) -> bytes:
    body = raw(event(seconds=1))
    return body[:-1] + b', "x": ' + b'{"a": ' * depth + b"1" + b"}" * depth + b"}"


def reason_of(value: bytes) -> str:
    decoded = decode_event(value, 65_536)
    assert isinstance(decoded, DecodeFailure), decoded
    return decoded.reason_code


def test_a_record_nested_3000_deep_is_refused_and_its_run_still_applies() -> None:
    batch = decode_batch([run_of(raw(event()), nested(3000), raw(event(seconds=2)))], 65_536)
    assert [(m.offset, f.reason_code) for m, f in batch.failures] == [(1, "not_json")]
    assert [offset for *_, offset in batch.by_queue["billing"]] == [0, 2]
    assert [run.offsets for run in batch.applied] == [[0, 2]]


def test_a_record_over_the_size_limit_is_refused_unread() -> None:
    big = raw(event(seconds=1, filler="x" * 70_000))
    batch = decode_batch([run_of(raw(event()), big)], 65_536)
    assert [(m.offset, f.reason_code) for m, f in batch.failures] == [(1, "too_large")]
    assert batch.events == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (event(queue="q" * 10_000), "invalid"),
        (event(queue="billing", call_id="c" * 300), "invalid"),
        ({**event(), "type": "call.answered", "agent": "ann\u202egnp"}, "bad_name"),
        ({**event(), "type": "call.answered", "agent": "ann\x01"}, "bad_name"),
        ({**event(), "type": "call.answered", "wait_seconds": -1}, "invalid"),
        ({**event(), "type": "call.answered", "wait_seconds": 1e12}, "invalid"),
        ({**event(), "type": "call.answered", "wait_seconds": "12"}, "invalid"),
        ({**event(), "type": "call.teleported"}, "unknown_type"),
        ({**event(), "type": "ticket.moved", "ticket_id": "t", "to_queue": "billing"}, "invalid"),
        (
            {**event(), "type": "agent.state", "agent": "a", "state": "available", "reason": "\n"},
            "bad_name",
        ),
        ({**event(), "type": "agent.state", "agent": "a\u200b", "state": "available"}, "bad_name"),
        ({**event(), "type": "call.ended", "agent": "ann\x1b"}, "bad_name"),
        ({**event(), "type": "ticket.assigned", "ticket_id": "t", "agent": "\u202e"}, "bad_name"),
        ({**event(), "type": "ticket.moved", "ticket_id": "t", "to_queue": "b\x7f"}, "bad_name"),
        # A channel becomes a label value and a JSON key: lower-case letters, digits, _ only.
        (event(channel="Chat"), "invalid"),
        (event(channel="chat\u202e"), "invalid"),
        (event(channel=""), "invalid"),
        (event(channel="chat\n"), "invalid"),
        (event(channel="c" * 33), "invalid"),
        ({**event(), "type": "call.answered", "channel": 'chat"}'}, "invalid"),
        ({**event(), "type": "call.ended", "channel": ["chat"]}, "invalid"),
    ],
)
def test_the_contract_refuses_bad_content_with_its_reason(body: dict[str, Any], code: str) -> None:
    assert reason_of(raw(body)) == code


def test_not_json_and_not_utf8_are_refused() -> None:
    assert reason_of(b'{"type": "call.entered", "id": ') == "not_json"
    assert reason_of(b"\xff\xfe" + raw(event())) == "not_json"
    assert reason_of(b'{"wait_seconds": NaN}') == "not_json"
    answered = raw({**event(), "type": "call.answered", "wait_seconds": 7})
    infinite = answered.replace(b'"wait_seconds": 7', b'"wait_seconds": 1e999')
    assert infinite != answered and reason_of(infinite) == "invalid"


def test_a_deadletter_record_keeps_a_bounded_prefix_size_and_hash() -> None:
    original = b'{"type": "x", "f": "' + b"\x01" * 600_000 + b'"}'
    record = json.loads(deadletter_record(original, "bad", "invalid", {}, keep_bytes=65_536))
    assert record["original_size"] == len(original)
    assert record["original_sha256"] == hashlib.sha256(original).hexdigest()
    assert record["original_truncated"] is True
    assert base64.b64decode(record["original_base64"]) == original[:65_536]
    assert "original_text" not in record  # stored once
    assert len(deadletter_record(original, "r" * 5000, "invalid", {})) < 90_000
    small = raw(event())
    whole = json.loads(deadletter_record(small, "bad", "invalid", {}))
    assert whole["original_text"].encode() == small and "original_base64" not in whole
    assert whole["original_truncated"] is False


def screened(values: list[bytes], settings: EngineSettings, engine: KpiEngine | None = None):  # type: ignore[no-untyped-def]
    engine = engine or KpiEngine(settings)
    runs = [
        [Message("tel", 0, i, json.loads(v)["queue"].encode(), v) for i, v in enumerate(values)]
    ]
    batch = decode_batch(runs, 65_536)
    refused = screen_batch(batch, Admission(settings), engine, NOW)
    return batch, {m.offset: f.reason_code for m, f in refused}


def test_an_event_far_ahead_of_the_wall_clock_is_refused_and_not_in_the_delta() -> None:
    values = [
        raw(event(seconds=0)),
        raw(event(seconds=299)),
        raw(event(seconds=301)),
        raw(event(time="2999-01-01T00:00:00Z")),
        raw(event(time="0001-01-01T00:00:00+01:00", id="y1")),
        raw(event(seconds=5, id="last")),
    ]
    batch, refused = screened(values, EngineSettings())
    assert refused == {2: "future_time", 3: "future_time", 4: "time_out_of_range"}
    assert [offset for *_, offset in batch.by_queue["billing"]] == [0, 1, 5]
    assert [run.offsets for run in batch.applied] == [[0, 1, 5]]
    assert batch.counts == {("tel", "call.entered"): 3}


def test_queues_beyond_max_queues_or_not_allowed_are_refused() -> None:
    settings = EngineSettings(max_queues=3, queues_allowed=["sales*", "billing"])
    engine = KpiEngine(settings)
    engine.apply(
        [
            (
                CallEntered(
                    id="x", time=datetime.fromtimestamp(NOW, UTC), queue="billing", call_id="c"
                ),
                None,
            )
        ]
    )
    names = ["billing", "sales-1", "support", "sales-2", "sales-3", "sales\u202e1"]
    batch, refused = screened(
        [raw(event(queue=q, seconds=i)) for i, q in enumerate(names)], settings, engine
    )
    assert refused == {2: "unknown_queue", 4: "unknown_queue", 5: "bad_name"}
    assert sorted(batch.by_queue) == ["billing", "sales-1", "sales-2"]
    assert {q for run in batch.applied for q in run.queues} == {"billing", "sales-1", "sales-2"}


def test_channels_beyond_max_channels_are_refused_and_the_held_ones_come_first() -> None:
    settings = EngineSettings(max_channels=3)
    engine = KpiEngine(settings)
    # The queue already counts voice and chat (two channels: split, a store each).
    first, refused = screened(
        [raw(event(seconds=0, id="v")), raw(event(seconds=1, id="c", channel="chat"))],
        settings,
        engine,
    )
    assert refused == {}
    engine.apply([(item[0], None) for item in first.by_queue["billing"]])
    assert sorted(engine.queues["billing"].channel_panes) == ["chat", "voice"]
    values = [
        raw(event(seconds=2, id="e1", channel="email")),  # the third: admitted
        raw(event(seconds=3, id="s1", channel="sms")),  # a fourth: refused
        raw(event(seconds=4, id="c2", channel="chat")),  # held: admitted
        raw(event(seconds=5, id="e2", channel="email")),  # admitted earlier in the batch
        raw(
            {**event(seconds=6, id="a1"), "type": "agent.state", "agent": "a", "state": "available"}
        ),
        raw(event(seconds=7, id="s2", channel="sms")),
        raw(event(queue="other", seconds=8, id="o1", channel="sms")),  # another queue's first
    ]
    batch, refused = screened(values, settings, engine)
    assert refused == {1: "unknown_channel", 5: "unknown_channel"}
    assert [offset for *_, offset in batch.by_queue["billing"]] == [0, 2, 3, 4]
    assert [run.offsets for run in batch.applied] == [[0, 2, 3, 4, 6]]
    engine.apply([(item[0], None) for group in batch.by_queue.values() for item in group])
    assert sorted(engine.queues["billing"].channel_panes) == ["chat", "email", "voice"]
    # A ticket's channel is where it came from, not a contact channel: not counted.
    ticket = {**event(seconds=9, id="t1"), "type": "ticket.created", "ticket_id": "t1"}
    ticket["channel"] = "web"
    groups = {"billing": [(msgspec.convert(ticket, Event), None, 0)]}
    assert Admission(settings).screen(groups, engine.queues, NOW) == []
    assert len(groups["billing"]) == 1
    # The reason names the channel, the queue and the setting.
    runs = [[Message("tel", 0, 0, b"billing", values[1])]]
    decoded = decode_batch(runs, 65_536)
    ((_, failure),) = screen_batch(decoded, Admission(settings), engine, NOW)
    assert failure.reason == (
        "channel 'sms' would be channel 4 of queue 'billing', over engine.max_channels (3)"
    )
    assert decoded.by_queue == {} and decoded.applied == []


def test_replay_has_no_wall_clock_bound() -> None:
    settings = EngineSettings()
    groups = {
        "q": [(msgspec.convert(event(queue="q", seconds=86_400 * 400), CallEntered), None, 0)]
    }
    assert Admission(settings).screen(groups, {}, None) == []
    assert len(groups["q"]) == 1


def entered(event_id: str, seconds: float, queue: str = "billing") -> CallEntered:
    return CallEntered(
        id=event_id, time=datetime.fromtimestamp(NOW + seconds, UTC), queue=queue, call_id=event_id
    )


def test_an_id_reused_with_another_time_is_refused_and_a_same_copy_is_a_duplicate() -> None:
    engine = KpiEngine()
    key = source_key("tel", 0)
    first, copy, conflict = entered("a", 0), entered("a", 0), entered("a", 30)
    result = engine.apply_grouped(
        {"billing": [(first, key, 0), (copy, key, 1), (conflict, key, 2)]}
    )
    assert result.applied == 1 and result.duplicates == 1
    assert [(item[2], code) for item, code, _ in result.refused] == [(2, "id_conflict")]
    assert engine.queues["billing"].offsets[key] == 2  # not applied again after a crash


def test_an_event_its_handler_raises_on_is_refused_and_the_rest_applies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = KpiEngine()
    original = engine._handlers[CallEntered]

    def fragile(runtime: Any, ev: Any, t: float, result: Any) -> bool:
        if ev.id == "boom":
            raise ValueError("cannot apply")
        return original(runtime, ev, t, result)

    monkeypatch.setitem(engine._handlers, CallEntered, fragile)
    key = source_key("tel", 0)
    items = [(entered("a", 0), key, 0), (entered("boom", 1), key, 1), (entered("b", 2), key, 2)]
    result = engine.apply_grouped({"billing": items})
    assert result.applied == 2
    assert [(item[2], code) for item, code, _ in result.refused] == [(1, "apply_error")]
    state = engine.queues["billing"]
    assert "boom" not in state.seen["telephony"] and state.offsets[key] == 2
    assert state.watermarks["telephony"] == NOW + 2
    batch = decode_batch(
        [[Message("tel", 0, i, b"billing", raw(event(seconds=i))) for i in range(3)]]
    )
    refused = engine_refusals(batch, result.refused)
    assert [(m.offset, f.reason_code) for m, f in refused] == [(1, "apply_error")]
    assert [run.offsets for run in batch.applied] == [[0, 1, 2]]  # kept: a recovery refuses it too


def test_remembered_ids_are_capped() -> None:
    engine = KpiEngine(EngineSettings(max_remembered_ids=5))
    engine.apply_all(entered(f"id-{i}", i) for i in range(8))
    seen = engine.queues["billing"].seen["telephony"]
    assert list(seen) == [f"id-{i}" for i in range(3, 8)]


def test_each_queue_reports_at_its_own_time_within_the_bound() -> None:
    engine = KpiEngine()
    engine.apply_all([entered("a", 100), entered("b", 2000, queue="sales"), entered("c", 0, "x")])
    cache = SnapshotCache(engine)
    snaps = cache.snapshots(NOW)
    assert snaps["billing"].at == NOW + 100
    assert snaps["sales"].at == NOW + 300  # bounded by max_future_seconds
    assert snaps["x"].at == NOW


def test_dead_letter_log_lines_are_budgeted_and_the_skipped_ones_counted() -> None:
    from streams.worker.deadletter import LogBudget

    budget = LogBudget(lines=2, seconds=10.0)
    assert [budget.allow(t) for t in (0.0, 1.0, 2.0, 3.0)] == [True, True, False, False]
    assert budget.allow(10.5) and budget.take_suppressed() == 2 and budget.take_suppressed() == 0


def test_the_demo_worker_allows_its_simulator_to_run_ahead() -> None:
    from streams.commands.demo import demo_future_seconds
    from streams.commands.worker import apply_overrides
    from streams.config import Config

    args = type(
        "Args",
        (),
        {
            "max_future_seconds": demo_future_seconds(5.0),
            "bootstrap": None,
            "web_port": None,
            "web_host": None,
            "data_dir": None,
            "app_id": None,
            "embedded_broker": False,
        },
    )()
    config = apply_overrides(Config(), args)
    assert config.engine.max_future_seconds == 30 * 86_400  # type: ignore[attr-defined]
    assert demo_future_seconds(1.0) == 300.0


def test_a_move_with_the_longest_id_still_forwards_a_decodable_moved_in() -> None:
    from processors.events import TicketCreated, TicketMoved, TicketMovedIn
    from streams.worker.codec import encode_event

    engine = KpiEngine()
    t = datetime.fromtimestamp(NOW, UTC)
    engine.apply_all([TicketCreated(id="a", time=t, queue="q", ticket_id="t1")])
    move = TicketMoved(id="m" * 256, time=t, queue="q", ticket_id="t1", to_queue="r")
    forwarded = engine.apply_grouped({"q": [(move, None, -1)]}).forwarded
    assert isinstance(decode_event(encode_event(forwarded[0]), 65_536), TicketMovedIn)
