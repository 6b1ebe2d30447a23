"""The changelog persistence: snapshot + deltas rebuild exactly, and replays never double count.

The table here is a plain dict with a changelog list: these are unit tests of our mapping. The
real Faust table on the real broker is exercised by tests/test_worker_integration.py.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processors.engine import KpiEngine
from processors.events import Event
from streams.worker.batching import decode_batch
from streams.worker.state_store import QueueStateStore, delta_key, snapshot_key


class FakeTable:
    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.changelog: list[tuple[int | None, bytes, bytes | None]] = []

    def send_changelog(
        self, partition: int | None, key: Any, value: Any, *a: Any, **k: Any
    ) -> None:
        self.changelog.append((partition, key, value))

    def recovered(self) -> FakeTable:
        """A new table holding what a fresh worker would read back from the changelog."""
        table = FakeTable()
        for _, key, value in self.changelog:
            if value is None:
                table.data.pop(key, None)
            else:
                table.data[key] = value
        return table


class FutureTable(FakeTable):
    """A changelog whose sends return a future, done when the test says so (or, with
    ``delivered_after``, that many seconds later)."""

    def __init__(self, delivered_after: float | None = None) -> None:
        super().__init__()
        self.sends: list[asyncio.Future[None]] = []
        self.delivered_after = delivered_after

    def send_changelog(  # type: ignore[override]
        self, partition: int | None, key: Any, value: Any, *a: Any, **k: Any
    ) -> asyncio.Future[None]:
        super().send_changelog(partition, key, value)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        if self.delivered_after is not None:
            loop.call_later(self.delivered_after, future.set_result, None)
        self.sends.append(future)
        return future


DECODER = msgspec.json.Decoder(Event)


def raw_call(i: int, queue: str, kind: str = "call.entered") -> bytes:
    return json.dumps(
        {
            "type": kind,
            "id": f"{kind}-{i}",
            "time": f"2026-11-22T10:{i // 60:02d}:{i % 60:02d}Z",
            "queue": queue,
            "call_id": f"c{i}",
        }
    ).encode()


def apply_batch(store: QueueStateStore, rows: list[tuple[str, int, int, bytes]]) -> None:
    """Apply ``rows`` and write their deltas at once."""
    stage_batch(store, rows)
    store.flush()


def stage_batch(
    store: QueueStateStore, rows: list[tuple[str, int, int, bytes]], ack: Any = None
) -> None:
    """Apply ``rows`` and stage their deltas, as the worker's batch task does: decoded in runs of
    one partition's records (keyed by queue), applied, staged."""
    runs: dict[tuple[str, int], list[SimpleNamespace]] = {}
    for topic, partition, offset, raw in rows:
        key = DECODER.decode(raw).queue.encode()
        record = SimpleNamespace(
            topic=topic, partition=partition, offset=offset, key=key, value=raw
        )
        runs.setdefault((topic, partition), []).append(record)
    decoded = decode_batch(list(runs.values()))
    store.engine.apply_grouped(decoded.by_queue)
    store.stage(decoded.applied, ack)


def entered(engine: KpiEngine, queue: str) -> int:
    at = 1795341600 + 3599  # 2026-11-22T10:59:59Z
    return engine.snapshot(at)[queue].windows["1h"].entered


def rows(
    start: int, stop: int, queue: str = "billing", partition: int = 2
) -> list[tuple[str, int, int, bytes]]:
    return [("ccpulse.telephony", partition, i, raw_call(i, queue)) for i in range(start, stop)]


def test_deltas_alone_rebuild_the_state() -> None:
    table = FakeTable()
    store = QueueStateStore(table, KpiEngine())
    apply_batch(store, rows(0, 10))
    apply_batch(store, rows(10, 25))
    assert entered(store.engine, "billing") == 25
    assert [k for _, k, _ in table.changelog] == [delta_key(2, 1), delta_key(2, 2)]
    fresh = QueueStateStore(table.recovered(), KpiEngine())
    assert fresh.rebuild({2}) == ["billing"]
    assert entered(fresh.engine, "billing") == 25


def test_snapshot_replaces_deltas_and_rebuild_continues_the_sequence() -> None:
    table = FakeTable()
    store = QueueStateStore(table, KpiEngine())
    apply_batch(store, rows(0, 10))
    assert store.write_snapshots() == 1
    recovered = table.recovered()
    assert list(recovered.data) == [snapshot_key(2, "billing")]
    apply_batch(store, rows(10, 12))
    fresh = QueueStateStore(table.recovered(), KpiEngine())
    fresh.rebuild({2})
    assert entered(fresh.engine, "billing") == 12
    assert set(fresh.table.data) == {snapshot_key(2, "billing"), delta_key(2, 2)}
    apply_batch(fresh, rows(12, 13))
    # The next delta after recovery continues the sequence instead of overwriting delta 2.
    assert fresh.table.changelog[-1][1] == delta_key(2, 3)
    assert entered(fresh.engine, "billing") == 13


def test_redelivered_batch_after_a_crash_is_not_counted_twice() -> None:
    table = FakeTable()
    store = QueueStateStore(table, KpiEngine())
    apply_batch(store, rows(0, 20))
    # Crash: offsets were not committed, so the consumer delivers 10..29 again (plus new ones).
    fresh = QueueStateStore(table.recovered(), KpiEngine())
    fresh.rebuild({2})
    apply_batch(fresh, rows(10, 30))
    assert entered(fresh.engine, "billing") == 30
    assert fresh.engine.queues["billing"].duplicates == 10


def test_crash_between_snapshot_and_delta_deletion_is_harmless() -> None:
    table = FakeTable()
    store = QueueStateStore(table, KpiEngine())
    apply_batch(store, rows(0, 10))
    store.write_snapshots()
    # Simulate the crash: drop the tombstones that followed the snapshot.
    table.changelog = [entry for entry in table.changelog if entry[2] is not None]
    fresh = QueueStateStore(table.recovered(), KpiEngine())
    fresh.rebuild({2})
    assert entered(fresh.engine, "billing") == 10


def test_records_go_to_the_partition_their_events_came_from() -> None:
    table = FakeTable()
    store = QueueStateStore(table, KpiEngine())
    apply_batch(store, rows(0, 5, "billing", partition=2) + rows(100, 103, "sales", partition=5))
    store.write_snapshots()
    partitions = {key: partition for partition, key, _ in table.changelog}
    assert partitions[delta_key(2, 1)] == 2
    assert partitions[delta_key(5, 1)] == 5
    assert partitions[snapshot_key(5, "sales")] == 5


def test_forget_drops_only_the_revoked_partitions() -> None:
    table = FakeTable()
    store = QueueStateStore(table, KpiEngine())
    apply_batch(store, rows(0, 5, "billing", partition=2) + rows(100, 103, "sales", partition=5))
    assert store.forget({5}) == ["sales"]
    assert set(store.engine.queues) == {"billing"}
    # The table itself is Faust's: a later assignment of partition 5 rebuilds from it.
    assert store.rebuild({5}) == ["sales"]
    assert entered(store.engine, "sales") == 3


def test_a_queue_applied_and_only_staged_is_forgotten_when_its_partition_is_revoked() -> None:
    """Between a batch and the flush that writes its delta (up to a second of group commit), a
    revocation drops what is staged: the queue's applied state must go with it (its records
    are read again by the new owner), so its partition is known from the moment it is staged."""
    table = FakeTable()
    store = QueueStateStore(table, KpiEngine())
    stage_batch(store, rows(0, 5, "billing", partition=2) + rows(100, 103, "sales", partition=5))
    assert store.partition_of == {"billing": 2, "sales": 5}
    store.drop_staged()
    assert store.forget({5}) == ["sales"]
    assert set(store.engine.queues) == {"billing"} and table.changelog == []


@pytest.mark.parametrize("queue", ["a/b", "d/x", "team/s"])
def test_queue_names_with_slashes_round_trip(queue: str) -> None:
    table = FakeTable()
    store = QueueStateStore(table, KpiEngine())
    apply_batch(store, rows(0, 3, queue))
    store.write_snapshots()
    apply_batch(store, rows(3, 4, queue))
    fresh = QueueStateStore(table.recovered(), KpiEngine())
    assert fresh.rebuild({2}) == [queue]
    assert entered(fresh.engine, queue) == 4


def test_one_delta_per_partition_holds_every_queue_and_is_deleted_once_all_are_snapshotted() -> (
    None
):
    table = FakeTable()
    store = QueueStateStore(table, KpiEngine())
    apply_batch(store, rows(0, 4, "billing") + rows(100, 103, "sales") + rows(200, 202, "x", 5))
    # Three queues, two partitions: two records, not three.
    assert [(p, k) for p, k, _ in table.changelog] == [(2, delta_key(2, 1)), (5, delta_key(5, 1))]
    assert store.write_snapshots(["billing"]) == 1
    assert delta_key(2, 1) in table.data  # sales is not in a snapshot yet
    assert store.write_snapshots() == 2
    assert set(table.data) == {snapshot_key(2, q) for q in ("billing", "sales")} | {
        snapshot_key(5, "x")
    }
    fresh = QueueStateStore(table.recovered(), KpiEngine())
    assert fresh.rebuild({2, 5}) == ["billing", "sales", "x"]
    assert (entered(fresh.engine, "billing"), entered(fresh.engine, "sales")) == (4, 3)


def test_a_per_queue_delta_of_an_earlier_version_is_replayed_then_deleted() -> None:
    table = FakeTable()
    store = QueueStateStore(table, KpiEngine())
    apply_batch(store, rows(0, 5))
    store.write_snapshots()
    # What an earlier version wrote after that snapshot: one delta per queue.
    old_key = b"2/billing/d/000000000007"
    old_value = msgspec.msgpack.encode(rows(5, 8))
    table.changelog.append((2, old_key, old_value))
    fresh = QueueStateStore(table.recovered(), KpiEngine())
    assert fresh.rebuild({2}) == ["billing"]
    assert entered(fresh.engine, "billing") == 8
    apply_batch(fresh, rows(8, 9))
    assert fresh.write_snapshots() == 1
    assert old_key not in fresh.table.data
    again = QueueStateStore(fresh.table.recovered(), KpiEngine())
    again.rebuild({2})
    assert entered(again.engine, "billing") == 9


def test_a_partition_delta_of_an_earlier_version_is_replayed_then_deleted() -> None:
    table = FakeTable()
    store = QueueStateStore(table, KpiEngine())
    apply_batch(store, rows(0, 5) + rows(100, 102, "sales"))
    store.write_snapshots()
    # What an earlier version wrote after those snapshots: per queue, its events' positions.
    old_value = msgspec.msgpack.encode({"billing": rows(5, 8), "sales": rows(102, 103, "sales")})
    table.changelog.append((2, delta_key(2, 7), old_value))
    fresh = QueueStateStore(table.recovered(), KpiEngine())
    assert fresh.rebuild({2}) == ["billing", "sales"]
    assert (entered(fresh.engine, "billing"), entered(fresh.engine, "sales")) == (8, 3)
    apply_batch(fresh, rows(8, 9))
    # The sequence continues after the old delta's, which goes once both queues are snapshotted.
    assert fresh.table.changelog[-1][1] == delta_key(2, 8)
    assert fresh.write_snapshots(["billing"]) == 1 and delta_key(2, 7) in fresh.table.data
    assert fresh.write_snapshots() == 1 and delta_key(2, 7) not in fresh.table.data
    again = QueueStateStore(fresh.table.recovered(), KpiEngine())
    again.rebuild({2})
    assert (entered(again.engine, "billing"), entered(again.engine, "sales")) == (9, 3)


def test_periodic_snapshots_come_once_per_interval_each_queue_at_its_own_turn() -> None:
    table = FakeTable()
    store = QueueStateStore(table, KpiEngine())
    queues = [f"q{i}" for i in range(40)]
    written_at: dict[str, list[int]] = {q: [] for q in queues}
    for second in range(0, 91):  # three 30 s intervals, a tick a second
        for queue in queues:  # every queue changes every second
            apply_batch(store, rows(second, second + 1, queue))
        already = len(table.changelog)
        store.write_due_snapshots(float(second), 30.0)
        for _, key, value in table.changelog[already:]:
            if value is not None and key.endswith(b"/s"):
                written_at[key.decode().split("/")[1]].append(second)
    firsts = [times[0] for times in written_at.values()]
    # Spread: the first snapshots fall on many different seconds, not in one burst...
    assert len(set(firsts)) >= 15
    for queue, times in written_at.items():
        # ...each within the first interval, and then exactly one interval apart.
        assert 0 < times[0] <= 30, (queue, times)
        assert [b - a for a, b in itertools.pairwise(times)] == [30] * (len(times) - 1)
        assert len(times) == 3


def test_the_group_commit_waits_for_the_last_batchs_delta_records_and_no_longer() -> None:
    async def scenario() -> tuple[float, float, float]:
        table = FutureTable()
        store = QueueStateStore(table, KpiEngine())
        apply_batch(store, rows(0, 3, "billing") + rows(100, 102, "sales", partition=5))
        assert len(table.sends) == 2  # one delta per partition
        started = time.monotonic()
        await store.delivered(0.2)  # nothing delivered: waits out its bound
        bounded = time.monotonic() - started
        loop = asyncio.get_running_loop()
        for future in table.sends:
            loop.call_later(0.05, future.set_result, None)
        started = time.monotonic()
        await store.delivered(5.0)  # returns once both are delivered
        early = time.monotonic() - started
        started = time.monotonic()
        await store.delivered(5.0)  # all delivered: no wait
        return bounded, early, time.monotonic() - started

    bounded, early, none = asyncio.run(scenario())
    assert 0.2 <= bounded < 1.0
    assert 0.05 <= early < 1.0
    assert none < 0.05


def test_staged_batches_are_written_together_and_acked_only_once_written() -> None:
    table = FakeTable()
    store = QueueStateStore(table, KpiEngine())
    acked: list[tuple[str, int]] = []  # (batch, changelog records written when acked)
    stage_batch(
        store,
        rows(0, 3, "billing") + rows(100, 102, "sales", partition=5),
        lambda: acked.append(("first", len(table.changelog))),
    )
    stage_batch(
        store, rows(3, 5, "billing"), lambda: acked.append(("second", len(table.changelog)))
    )
    # Applied at once (the KPIs count them), written and acked at the flush only.
    assert entered(store.engine, "billing") == 5
    assert table.changelog == [] and acked == [] and store.staged
    assert store.flush() == 2  # both batches: one record per partition
    assert [(p, k) for p, k, _ in table.changelog] == [(2, delta_key(2, 1)), (5, delta_key(5, 1))]
    assert acked == [("first", 2), ("second", 2)]  # after the records were sent
    assert not store.staged and store.flush() == 0
    fresh = QueueStateStore(table.recovered(), KpiEngine())
    assert fresh.rebuild({2, 5}) == ["billing", "sales"]
    assert (entered(fresh.engine, "billing"), entered(fresh.engine, "sales")) == (5, 2)
    # Revoked before the flush: nothing of it is written or acked.
    stage_batch(store, rows(5, 6, "billing"), lambda: acked.append(("dropped", 0)))
    store.drop_staged()
    assert store.flush() == 0 and len(table.changelog) == 2 and len(acked) == 2


def test_a_large_backlog_is_written_in_records_under_the_size_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import streams.worker.changelog_records as state_store

    monkeypatch.setattr(state_store, "RECORD_MAX_BYTES", 4096)
    table = FakeTable()
    store = QueueStateStore(table, KpiEngine())
    stage_batch(store, rows(0, 60, "billing") + rows(100, 110, "sales"))
    stage_batch(store, rows(60, 120, "billing"))
    assert store.backlog() == 130  # events staged
    assert store.flush() > 2
    values = [v for _, _, v in table.changelog if v is not None]
    assert max(map(len, values)) <= 4096
    # Every event once, each queue's in order, across the records.
    written: dict[str, list[int]] = {}
    for value in values:
        for _, _, offsets, raws, _ in msgspec.msgpack.decode(value):
            for offset, raw in zip(offsets, raws, strict=True):
                written.setdefault(json.loads(raw)["queue"], []).append(offset)
    assert written == {"billing": list(range(120)), "sales": list(range(100, 110))}
    assert store.backlog() == 0  # sent (this table's sends return nothing to wait on)
    fresh = QueueStateStore(table.recovered(), KpiEngine())
    assert fresh.rebuild({2}) == ["billing", "sales"]
    assert (entered(fresh.engine, "billing"), entered(fresh.engine, "sales")) == (120, 10)


def test_the_backlog_counts_what_is_staged_or_on_its_way_until_it_is_delivered() -> None:
    async def scenario() -> None:
        table = FutureTable()
        store = QueueStateStore(table, KpiEngine())
        stage_batch(store, rows(0, 10, "billing"))
        assert store.backlog() == 10  # staged
        store.flush()
        assert store.backlog() == 10  # on its way
        for future in table.sends:
            future.set_result(None)
        assert store.backlog() == 0  # in Kafka

    asyncio.run(scenario())


def test_making_room_writes_what_is_staged_and_waits_until_it_is_delivered() -> None:
    async def scenario() -> float:
        store = QueueStateStore(FutureTable(delivered_after=0.05), KpiEngine())
        stage_batch(store, rows(0, 10, "billing"))
        started = time.monotonic()
        # Nothing on its way yet: it must write, not wait for nothing (nor spin).
        await asyncio.wait_for(store.make_room(0, 5.0), 2.0)
        assert store.backlog() == 0 and not store.staged
        return time.monotonic() - started

    assert 0.05 <= asyncio.run(scenario()) < 1.0
    # Under the limit already: returns at once, nothing written.
    plain = QueueStateStore(FakeTable(), KpiEngine())
    stage_batch(plain, rows(0, 10, "billing"))
    asyncio.run(plain.make_room(10**9, 5.0))
    assert plain.staged and plain.table.changelog == []  # type: ignore[attr-defined]


def _simulated_rows(count: int, partitions: int) -> list[tuple[str, int, int, bytes]]:
    """Simulated traffic as source records: telephony and ticketing topics, keyed by queue,
    each queue on one partition, offsets counted per (topic, partition)."""
    from streams.offline.simulator import QueueModel, Simulation
    from streams.worker.codec import encode_event

    queues = [
        QueueModel(name=f"q{i}", calls_per_hour=300.0, agents=5, tickets_per_hour=60.0)
        for i in range(5)
    ]
    events = itertools.islice(Simulation(queues, start=1_790_000_000.0, seed=4).events(), count)
    offsets: dict[tuple[str, int], int] = {}
    out = []
    for event in events:
        topic = "tk" if event.__struct_config__.tag.startswith(("ticket", "survey")) else "tel"
        partition = int(event.queue[1:]) % partitions
        offset = offsets[topic, partition] = offsets.get((topic, partition), -1) + 1
        out.append((topic, partition, offset, encode_event(event)))
    return out


ROWS = _simulated_rows(1500, 3)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cuts=st.lists(st.integers(0, len(ROWS)), max_size=12),
    snapshot_after=st.sets(st.integers(0, 12)),
    flush_after=st.sets(st.integers(0, 12)),
    record_bytes=st.sampled_from([2048, 16_384, 512 * 1024]),
)
def test_whatever_the_batches_records_and_snapshots_a_rebuild_equals_the_live_state(
    cuts: list[int], snapshot_after: set[int], flush_after: set[int], record_bytes: int
) -> None:
    """Split the traffic into batches anywhere, flush after some of them only (the rest stay
    staged until the next flush), snapshot after some, write records as small as 2 kB: what a
    fresh worker rebuilds from the changelog equals the live state at the last flush."""
    import streams.worker.changelog_records as state_store

    previous = state_store.RECORD_MAX_BYTES
    state_store.RECORD_MAX_BYTES = record_bytes
    try:
        table = FakeTable()
        store = QueueStateStore(table, KpiEngine())
        bounds = [0, *sorted(set(cuts)), len(ROWS)]
        flushed_at: dict[str, Any] = {}
        for index, (start, stop) in enumerate(itertools.pairwise(bounds)):
            stage_batch(store, ROWS[start:stop])
            if index in flush_after or stop == len(ROWS):
                store.flush()
                flushed_at = msgspec.to_builtins(store.engine.snapshot(1_790_000_000 + 86_400))
            if index in snapshot_after:
                store.write_snapshots()
    finally:
        state_store.RECORD_MAX_BYTES = previous
    deltas = [v for _, k, v in table.changelog if v is not None and b"//d/" in k]
    assert deltas and max(map(len, deltas)) <= record_bytes
    fresh = QueueStateStore(table.recovered(), KpiEngine())
    assert fresh.rebuild({0, 1, 2}) == sorted(store.engine.queues)
    rebuilt = msgspec.to_builtins(fresh.engine.snapshot(1_790_000_000 + 86_400))
    assert rebuilt == flushed_at


def test_due_snapshots_a_few_at_a_time_are_the_same_snapshots_at_the_same_turns() -> None:
    def turns(most: int | None) -> tuple[dict[str, list[int]], int]:
        table = FakeTable()
        store = QueueStateStore(table, KpiEngine())
        queues = [f"q{i}" for i in range(90)]  # 3 due a second on average
        written_at: dict[str, list[int]] = {q: [] for q in queues}
        largest = 0
        for second in range(0, 46):
            for queue in queues:
                apply_batch(store, rows(second, second + 1, queue))
            already = len(table.changelog)
            while written := store.write_due_snapshots(float(second), 30.0, most):
                largest = max(largest, written)
                if most is None:
                    break
            for _, key, value in table.changelog[already:]:
                if value is not None and key.endswith(b"/s"):
                    written_at[key.decode().split("/")[1]].append(second)
        return written_at, largest

    few, most_at_once = turns(2)
    every, all_at_once = turns(None)
    assert few == every and sum(map(len, few.values())) > 90
    assert most_at_once == 2 and all_at_once > 2
