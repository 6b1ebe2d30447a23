"""A queue state larger than a Kafka record is snapshotted in parts and recovered whole."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest

from processors.engine import KpiEngine, Position
from processors.events import TicketCreated
from processors.state import decode_state, encode_state
from streams.worker.snapshot_parts import PART_BYTES, parse_part_key, read_manifest
from streams.worker.state_store import QueueStateStore, snapshot_key
from tests.test_state_store import FakeTable, FutureTable

OPEN_TICKETS = 12_000  # random ids: about 1.2 MB of encoded state, over Kafka's 1 MB default


def busy_help_desk(engine: KpiEngine, store: QueueStateStore, first: int = 0) -> None:
    """``OPEN_TICKETS`` open tickets on queue "big" (partition 3), their positions staged."""
    start = datetime(2026, 11, 22, 9, tzinfo=UTC).timestamp()
    batch = [
        (
            TicketCreated(
                id=uuid.uuid4().hex,
                time=datetime.fromtimestamp(start + (first + i) * 0.1, UTC),
                queue="big",
                ticket_id=uuid.uuid4().hex,
                customer=uuid.uuid4().hex,
            ),
            Position("ccpulse.ticketing", 3, first + i),
        )
        for i in range(OPEN_TICKETS)
    ]
    engine.apply(batch)
    store.partition_of["big"] = 3
    store.dirty.add("big")


def test_a_state_over_the_record_limit_is_written_in_parts_and_rebuilt_whole() -> None:
    table = FakeTable()
    engine = KpiEngine()
    store = QueueStateStore(table, engine)
    busy_help_desk(engine, store)
    encoded = encode_state(engine.queues["big"])
    assert len(encoded) > 1024 * 1024  # one record would be refused by Kafka
    assert store.write_snapshots() == 1
    assert all(len(value) <= PART_BYTES for _, _, value in table.changelog if value)
    parts = [key for _, key, _ in table.changelog if parse_part_key(key)]
    assert len(parts) == -(-len(encoded) // PART_BYTES)
    # The manifest comes last: a crash before it leaves the previous snapshot in charge.
    assert table.changelog[-1][1] == snapshot_key(3, "big")
    manifest = read_manifest(table.changelog[-1][2])
    assert manifest is not None and manifest.parts == len(parts)

    rebuilt = KpiEngine()
    assert QueueStateStore(table.recovered(), rebuilt).rebuild({3}) == ["big"]
    assert encode_state(rebuilt.queues["big"]) == encoded


def test_the_previous_parts_are_deleted_once_the_new_snapshot_is_in_kafka() -> None:
    async def scenario() -> tuple[int, int]:
        table = FutureTable()
        engine = KpiEngine()
        store = QueueStateStore(table, engine)
        busy_help_desk(engine, store)
        store.write_snapshots()
        first = [key for _, key, _ in table.changelog if parse_part_key(key)]
        for future in table.sends:
            future.set_result(None)
        busy_help_desk(engine, store, first=OPEN_TICKETS)  # a larger state, more parts
        sent_before = len(table.sends)
        store.write_snapshots()
        await asyncio.sleep(0)
        deleted_early = sum(1 for _, key, v in table.changelog if v is None and key in first)
        for future in table.sends[sent_before:]:
            future.set_result(None)
        await asyncio.sleep(0)
        deleted = {key for _, key, v in table.changelog if v is None}
        assert deleted == set(first)
        recovered = table.recovered()
        rebuilt = KpiEngine()
        QueueStateStore(recovered, rebuilt).rebuild({3})
        assert encode_state(rebuilt.queues["big"]) == encode_state(engine.queues["big"])
        return deleted_early, len(deleted)

    early, deleted = asyncio.run(scenario())
    assert early == 0 and deleted > 0


def test_a_crash_before_the_manifest_keeps_the_previous_snapshot_and_drops_the_orphans() -> None:
    table = FakeTable()
    engine = KpiEngine()
    store = QueueStateStore(table, engine)
    busy_help_desk(engine, store)
    store.write_snapshots()
    before = encode_state(engine.queues["big"])
    busy_help_desk(engine, store, first=OPEN_TICKETS)
    written = len(table.changelog)
    store.write_snapshots()
    manifest_at = max(
        i for i, (_, key, _) in enumerate(table.changelog) if key == snapshot_key(3, "big")
    )
    new_parts = {key for _, key, _ in table.changelog[written:manifest_at]}
    assert new_parts and all(parse_part_key(key) for key in new_parts)
    # The worker dies after the new parts, before their manifest reached Kafka.
    crashed = FakeTable()
    crashed.changelog = table.changelog[:manifest_at]
    recovered = crashed.recovered()
    rebuilt = KpiEngine()
    QueueStateStore(recovered, rebuilt).rebuild({3})
    assert encode_state(rebuilt.queues["big"]) == before
    # The orphaned parts are deleted; the previous generation's stay (its manifest is live).
    assert not new_parts & set(recovered.data)
    assert any(parse_part_key(key) for key in recovered.data)


def test_a_snapshot_missing_a_part_stops_the_rebuild_with_the_reason() -> None:
    table = FakeTable()
    engine = KpiEngine()
    store = QueueStateStore(table, engine)
    busy_help_desk(engine, store)
    store.write_snapshots()
    recovered = table.recovered()
    first_part = next(key for key in recovered.data if parse_part_key(key))
    del recovered.data[first_part]
    with pytest.raises(RuntimeError, match="lacks parts of queue 'big'"):
        QueueStateStore(recovered, KpiEngine()).rebuild({3})


def test_a_small_state_is_one_record_as_before() -> None:
    table = FakeTable()
    engine = KpiEngine()
    store = QueueStateStore(table, engine)
    start = datetime(2026, 11, 22, 9, tzinfo=UTC)
    engine.apply(
        [
            (
                TicketCreated(id="t1", time=start, queue="small", ticket_id="1"),
                Position("ccpulse.ticketing", 1, 0),
            )
        ]
    )
    store.partition_of["small"] = 1
    store.dirty.add("small")
    store.write_snapshots()
    assert [(p, k) for p, k, _ in table.changelog] == [(1, snapshot_key(1, "small"))]
    assert decode_state(table.changelog[0][2]) == engine.queues["small"]
