"""``ccpulse audit``'s comparison (streams/offline/audit.py) and its reading of records
(streams/offline/retained.py), without a broker: worker documents built from the engine itself."""

from __future__ import annotations

import copy

import msgspec

from processors.events import CallAnswered, CallEntered, Event, TicketMovedIn
from processors.settings import EngineSettings
from streams.offline.audit import (
    ONLY_REPLAY,
    ONLY_WORKER,
    TWO_WORKERS,
    WorkerReport,
    audit,
    differences,
    merge_owned,
    replay_document,
    same_second,
)
from streams.offline.retained import RetainedEvents, interleave, sort_record
from streams.worker.codec import encode_event

AT = 1_764_842_400  # 2025-12-04T10:00:00Z
SETTINGS = EngineSettings(windows=["5m", "1h"])


def _calls(queue: str, count: int) -> list[Event]:
    events: list[Event] = []
    for i in range(count):
        entered = msgspec.json.decode(
            f'{{"type":"call.entered","id":"{queue}-e{i}","queue":"{queue}",'
            f'"time":"2025-12-04T09:{50 + i % 9:02d}:00Z","call_id":"{queue}-{i}"}}',
            type=CallEntered,
        )
        answered = msgspec.json.decode(
            f'{{"type":"call.answered","id":"{queue}-a{i}","queue":"{queue}",'
            f'"time":"2025-12-04T09:{50 + i % 9:02d}:{10 + i:02d}Z","call_id":"{queue}-{i}"}}',
            type=CallAnswered,
        )
        events += [entered, answered]
    return events


EVENTS = _calls("billing", 4) + _calls("sales", 3)


def _worker(url: str, queues: list[str], at: int = AT) -> WorkerReport:
    """A worker document exactly as replay computes it (what a correct worker shows)."""
    replayed = replay_document(EVENTS, at, SETTINGS.windows, SETTINGS)
    return WorkerReport(url, at, "ccpulse", True, {q: copy.deepcopy(replayed[q]) for q in queues})


def test_a_correct_worker_matches_every_field() -> None:
    result = audit([_worker("w1", ["billing", "sales"])], EVENTS, SETTINGS)
    assert result.differences == []
    assert result.queues == {"billing", "sales"}
    # Every leaf of every queue compared: live gauges and both windows.
    assert result.compared > 2 * 2 * 30
    entered = [f for f in result.fields if f.kpi == "windows.1h.entered"]
    assert {(f.queue, f.live, f.replayed) for f in entered} == {
        ("billing", 4, 4),
        ("sales", 3, 3),
    }


def test_a_wrong_count_is_a_difference_naming_queue_and_kpi() -> None:
    worker = _worker("w1", ["billing", "sales"])
    worker.queues["billing"]["windows"]["1h"]["entered"] = 3
    result = audit([worker], EVENTS, SETTINGS)
    [found] = result.differences
    assert (found.queue, found.kpi, found.worker) == ("billing", "windows.1h.entered", "w1")
    assert (found.live, found.replayed, found.difference) == (3, 4, -1)


def test_workers_at_different_seconds_are_each_replayed_at_their_own() -> None:
    # sales' calls of 09:50-09:52 are in its 5 m window at 09:53, not at 10:00 (AT).
    early = _worker("w1", ["billing"], at=AT)
    other = _worker("w2", ["sales"], at=AT - 420)
    assert other.queues["sales"]["windows"]["5m"]["entered"] == 3
    assert _worker("w2", ["sales"]).queues["sales"]["windows"]["5m"]["entered"] == 0
    assert audit([early, other], EVENTS, SETTINGS).differences == []
    moved = WorkerReport("w2", AT, "ccpulse", True, other.queues)
    assert audit([early, moved], EVENTS, SETTINGS).differences != []


def test_a_queue_on_two_workers_and_a_queue_on_none_are_differences() -> None:
    result = audit([_worker("w1", ["billing"]), _worker("w2", ["billing"])], EVENTS, SETTINGS)
    found = {(f.queue, f.status, f.worker) for f in result.differences}
    assert found == {("billing", TWO_WORKERS, "w1, w2"), ("sales", ONLY_REPLAY, None)}


def test_a_queue_replay_does_not_know_is_a_difference() -> None:
    worker = _worker("w1", ["billing", "sales"])
    worker.queues["support"] = worker.queues["sales"]
    [found] = audit([worker], EVENTS, SETTINGS).differences
    assert (found.queue, found.status) == ("support", ONLY_WORKER)


def test_differences_lines_and_float_tolerance() -> None:
    live = {"q": {"a": 1, "rate": 0.5, "gone": 1}}
    replayed = {"q": {"a": 2, "rate": 0.5 + 1e-12, "new": 1}, "r": {}}
    assert differences(live, replayed) == [
        "q.a: worker 1 != replay 2",
        "q.gone: only in worker",
        "q.new: only in replay",
        "r: only in replay",
    ]
    assert differences({"x": None}, {"x": 0.0}) == ["x: worker None != replay 0.0"]


def test_same_second_reads_again_until_all_workers_agree() -> None:
    answers = [[("a", {"at": 10.0}), ("b", {"at": 11.0})], [("a", {"at": 12}), ("b", {"at": 12})]]
    documents, one = same_second(iter(answers).__next__, attempts=5)
    assert one and documents == answers[1]
    documents, one = same_second(lambda: answers[0], attempts=3)
    assert not one and documents == answers[0]


def test_merge_owned_names_every_owner() -> None:
    documents = [("a", {"queues": {"q": 1, "r": 2}}), ("b", {"queues": {"q": 3}})]
    assert merge_owned(documents) == ({"q": 1, "r": 2}, {"q": ["a", "b"], "r": ["a"]})


def test_records_are_sorted_out_as_the_worker_sorts_them() -> None:
    out = RetainedEvents()
    good = EVENTS[0]
    forwarded = TicketMovedIn(
        id="m1", queue="sales", time=good.time, ticket_id="t1", from_queue="billing"
    )
    assert sort_record(out, b"billing", encode_event(good)) == good
    assert sort_record(out, b"billing", b"{not json") is None
    assert sort_record(out, None, b"") is None
    assert sort_record(out, b"sales", encode_event(good)) is None  # keyed by another queue
    assert sort_record(out, b"sales", encode_event(forwarded)) is None
    assert (out.records, out.invalid, out.misrouted, out.forwarded) == (5, 2, 1, 1)


def _ticket(kind: str, queue: str, ticket: str, minute: int, **extra: str) -> Event:
    fields = {"type": kind, "id": f"{kind}-{ticket}", "queue": queue, "ticket_id": ticket}
    fields.update(time=f"2025-12-04T09:{minute:02d}:00Z", **extra)
    return msgspec.json.decode(msgspec.json.encode(fields), type=Event)


def test_partitions_are_interleaved_so_a_forwarded_move_comes_after_the_new_queue_s_events() -> (
    None
):
    # billing's partition: a ticket moved to technical at 09:40. technical's partition: two
    # tickets created at 09:05 and 09:10. Interleaved, as the worker reads them. Partition after
    # partition, replay forwards the move into technical first; a forwarded move moves no
    # watermark (processors/engine.py), so the two older tickets still count either way.
    billing = [
        _ticket("ticket.created", "billing", "t1", 0),
        _ticket("ticket.moved", "billing", "t1", 40, to_queue="technical"),
    ]
    technical = [
        _ticket("ticket.created", "technical", "t2", 5),
        _ticket("ticket.created", "technical", "t3", 10),
    ]
    events = interleave([billing, technical])
    assert events == [billing[0], technical[0], technical[1], billing[1]]
    created = replay_document(events, AT, ["1h"], SETTINGS)["technical"]["windows"]["1h"]
    assert created["tickets_created"] == 2
    one_after_other = replay_document(billing + technical, AT, ["1h"], SETTINGS)
    assert one_after_other["technical"]["windows"]["1h"]["tickets_created"] == 2


def test_interleaving_never_reorders_a_partition() -> None:
    late = [
        _ticket("ticket.created", "sales", "t9", 30),
        _ticket("ticket.solved", "sales", "t9", 1),
    ]
    other = [_ticket("ticket.created", "billing", "t8", 2)]
    assert interleave([late, other]) == [other[0], *late]


def test_the_table_names_queue_kpi_values_difference_and_worker() -> None:
    from streams.commands.audit import _render

    first, second = _worker("http://a:6066", ["billing"]), _worker("http://b:6066", ["billing"])
    second.queues["billing"]["windows"]["1h"]["entered"] = 7
    result = audit([first, second], EVENTS, SETTINGS)
    lines = _render(result, [first, second], RetainedEvents(events=EVENTS), False).splitlines()
    assert ["billing", "windows.1h.entered", "7", "4", "+3", "http://b:6066"] in [
        line.split() for line in lines
    ]
    assert "queue billing: exported by two workers (http://a:6066, http://b:6066)" in lines
    assert "queue sales: only in replay" in lines
    assert lines[-1].startswith("3 differences: 2 queues, ")
