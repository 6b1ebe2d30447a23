"""The changelog persistence: snapshot + deltas rebuild exactly, and replays never double count.

The table here is a plain dict with a changelog list: these are unit tests of our mapping. The
real Faust table on the real broker is exercised by tests/test_worker_integration.py.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from processors.engine import KpiEngine, Position
from processors.events import Event
from streams.state_store import QueueStateStore, delta_key, snapshot_key


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
    batch = [(DECODER.decode(raw), Position(t, p, o)) for t, p, o, raw in rows]
    result = store.engine.apply(batch)
    per_queue: dict[str, list[tuple[str, int, int, bytes]]] = {}
    for (event, _), row in zip(batch, rows, strict=True):
        if event.queue in result.touched:
            per_queue.setdefault(event.queue, []).append(row)
    store.write_deltas(per_queue)


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
    assert [k for _, k, _ in table.changelog] == [
        delta_key(2, "billing", 1),
        delta_key(2, "billing", 2),
    ]
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
    assert set(fresh.table.data) == {snapshot_key(2, "billing"), delta_key(2, "billing", 2)}
    apply_batch(fresh, rows(12, 13))
    # The next delta after recovery continues the sequence instead of overwriting delta 2.
    assert fresh.table.changelog[-1][1] == delta_key(2, "billing", 3)
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
    assert partitions[delta_key(2, "billing", 1)] == 2
    assert partitions[delta_key(5, "sales", 1)] == 5
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
