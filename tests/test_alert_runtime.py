"""The worker's alert glue (streams/alerting/runtime.py) with in-memory stand-ins for Faust.

The real worker, broker, Prometheus and Alertmanager are exercised in tests/test_alerts_e2e.py;
here a fake table, topic and dispatcher record what the glue does, step by step.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from processors.alert_rules import AlertRule
from processors.alert_state import decode_alert_states
from processors.snapshot import LiveKpis, QueueSnapshot, WindowKpis
from streams.alerting.delivery_log import NotificationPublisher
from streams.alerting.notification import Notification
from streams.alerting.runtime import AlertRuntime, alert_key
from streams.config import AlertsConfig, Config
from streams.views.alerts import authorized

T0 = 1_800_000_000.0
RULE = AlertRule(
    name="abandon_rate_high",
    kpi="abandon_rate",
    window="15m",
    fire=0.10,
    clear=0.07,
    for_seconds=5,
    min_volume=10,
)


@dataclass
class FakeTable:
    data: dict[bytes, bytes] = field(default_factory=dict)
    sent: list[tuple[int, bytes, bytes]] = field(default_factory=list)

    def send_changelog(self, partition: int, key: bytes, value: bytes) -> None:
        self.sent.append((partition, key, value))


@dataclass
class FakeTopic:
    records: list[tuple[bytes, dict[str, Any]]] = field(default_factory=list)

    def send_soon(self, key: bytes, value: bytes) -> None:
        self.records.append((key, json.loads(value)))


@dataclass
class FakeDispatcher:
    submitted: list[Notification] = field(default_factory=list)
    tracked: list[Notification] = field(default_factory=list)

    def submit(self, n: Notification) -> None:
        self.submitted.append(n)

    def track(self, n: Notification) -> None:
        self.tracked.append(n)

    acknowledged: list[str] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)

    def acknowledge(self, fingerprint: str) -> None:
        self.acknowledged.append(fingerprint)

    def forget(self, fingerprint: str) -> None:
        self.forgotten.append(fingerprint)


@dataclass
class FakeStore:
    partition_of: dict[str, int] = field(default_factory=dict)


class FakeRuntime:
    def __init__(self) -> None:
        self.config = Config(alerts=AlertsConfig(use_default_rules=False, rules=[RULE]))
        self.ready = True
        self.store = FakeStore({"billing": 3})
        self.now = T0
        self.rate = 0.0

    def clock(self, queue: str | None = None) -> float:
        return self.now

    def snapshots(self) -> dict[str, QueueSnapshot]:
        window = WindowKpis(answered=50, abandoned=round(self.rate * 50), abandon_rate=self.rate)
        snap = QueueSnapshot(queue="billing", at=self.now, live=LiveKpis(), windows={"15m": window})
        return {"billing": snap}


def make(
    table: FakeTable | None = None,
) -> tuple[AlertRuntime, FakeRuntime, FakeTable, FakeTopic, FakeDispatcher]:
    runtime, table, topic, dispatcher = (
        FakeRuntime(),
        table or FakeTable(),
        FakeTopic(),
        FakeDispatcher(),
    )
    alerts = AlertRuntime(runtime, table, topic, dispatcher, CollectorRegistry())  # type: ignore[arg-type]
    alerts.restore({3})
    return alerts, runtime, table, topic, dispatcher


def step(alerts: AlertRuntime, runtime: FakeRuntime, rate: float, seconds: int) -> None:
    runtime.rate = rate
    for _ in range(seconds):
        alerts.tick()
        runtime.now += 1


def test_fire_notify_persist_and_resolve() -> None:
    alerts, runtime, table, topic, dispatcher = make()
    step(alerts, runtime, 0.2, 10)
    states = [r["state"] for _, r in topic.records]
    assert states == ["pending", "firing"]
    assert {key for key, _ in topic.records} == {alerts.firing()[0]["fingerprint"].encode()}
    assert [(n.status, n.severity) for n in dispatcher.submitted] == [("firing", "warning")]
    assert dispatcher.submitted[0].summary.startswith("Abandonment on billing is 20 %")
    assert alert_key(3, "billing") in table.data and table.sent[-1][0] == 3
    firing = alerts.firing()
    assert firing[0]["threshold"] == 0.10 and firing[0]["since"] == T0 + 5
    step(alerts, runtime, 0.05, 1)
    assert [n.status for n in dispatcher.submitted] == ["firing", "resolved"]
    assert alerts.firing() == []


def test_restart_mid_firing_tracks_without_re_paging() -> None:
    alerts, runtime, table, _, dispatcher = make()
    step(alerts, runtime, 0.2, 10)
    assert len(dispatcher.submitted) == 1
    # A new process reading the same table.
    restarted, runtime2, _, topic2, dispatcher2 = make(FakeTable(data=dict(table.data)))
    runtime2.now = runtime.now
    assert [n.fingerprint for n in dispatcher2.tracked] == [alerts.firing()[0]["fingerprint"]]
    step(restarted, runtime2, 0.2, 30)
    assert dispatcher2.submitted == [] and topic2.records == []
    step(restarted, runtime2, 0.0, 1)
    assert [n.status for n in dispatcher2.submitted] == ["resolved"]


def test_not_ready_means_no_evaluation() -> None:
    alerts, runtime, _, topic, _ = make()
    runtime.ready = False
    step(alerts, runtime, 0.5, 10)
    assert topic.records == []
    alerts.forget({3})
    runtime.ready = True
    step(alerts, runtime, 0.5, 10)
    assert topic.records == []  # our own state is gone until the next recovery


def test_silence_suppresses_then_notifies_when_it_ends() -> None:
    alerts, runtime, _, topic, dispatcher = make()
    silence, _ = alerts.silence("*", "bill*", 60, "ana", "maintenance")
    assert topic.records[-1][1]["kind"] == "silence" and topic.records[-1][1]["created_by"] == "ana"
    step(alerts, runtime, 0.2, 30)
    assert dispatcher.submitted == []
    assert alerts.firing()[0]["silenced"] is True
    step(alerts, runtime, 0.2, 40)  # the silence ends at T0 + 60
    assert [n.status for n in dispatcher.submitted] == ["firing"]
    assert silence.ends_at == T0 + 60


def test_acknowledge_is_recorded_with_who() -> None:
    alerts, runtime, _, topic, dispatcher = make()
    step(alerts, runtime, 0.2, 10)
    fingerprint = alerts.firing()[0]["fingerprint"]
    assert alerts.acknowledge("nope", "ana") is None
    acked = alerts.acknowledge(fingerprint, "ana", "on it")
    assert acked is not None and acked["acknowledged_by"] == "ana"
    assert dispatcher.acknowledged == [fingerprint]  # its repeats to humans stop
    key, record = topic.records[-1]
    assert key == fingerprint.encode()
    assert (record["kind"], record["by"], record["comment"]) == ("ack", "ana", "on it")


def test_an_acknowledged_alert_stays_quiet_after_a_move_and_revoke_forgets_it() -> None:
    alerts, runtime, table, _, dispatcher = make()
    step(alerts, runtime, 0.2, 10)
    fingerprint = alerts.firing()[0]["fingerprint"]
    alerts.acknowledge(fingerprint, "ana")
    # The queue's new owner restores it: tracked, and still acknowledged there.
    moved, _, _, _, dispatcher2 = make(FakeTable(data=dict(table.data)))
    assert [n.fingerprint for n in dispatcher2.tracked] == [fingerprint]
    assert dispatcher2.acknowledged == [fingerprint]
    # The old owner loses the partition: its dispatcher forgets the alert, nothing is sent.
    alerts.forget({3})
    assert dispatcher.forgotten == [fingerprint]
    assert [n.status for n in dispatcher.submitted] == ["firing"]
    assert moved.firing()[0]["fingerprint"] == fingerprint


def test_firing_gauge_is_read_at_scrape_time() -> None:
    runtime, table, topic, dispatcher = FakeRuntime(), FakeTable(), FakeTopic(), FakeDispatcher()
    registry = CollectorRegistry()
    alerts = AlertRuntime(runtime, table, topic, dispatcher, registry)  # type: ignore[arg-type]
    alerts.restore({3})
    step(alerts, runtime, 0.2, 10)
    body = generate_latest(registry).decode()
    assert (
        'ccpulse_alert_firing{queue="billing",rule="abandon_rate_high",severity="warning"} 1.0'
        in body
    )
    step(alerts, runtime, 0.0, 1)
    assert "ccpulse_alert_firing{" not in generate_latest(registry).decode()


def test_bearer_token_check() -> None:
    assert authorized("Bearer s3cret", "s3cret")
    assert not authorized("Bearer wrong", "s3cret")
    assert not authorized("s3cret", "s3cret")
    assert not authorized(None, "s3cret")
    assert not authorized("Bearer ", None)


def test_cli_durations_and_option_placement() -> None:
    from streams.cli import build_parser
    from streams.commands.alerts import parse_duration

    assert parse_duration("90") == 90.0
    assert parse_duration("30m") == 1800.0
    assert parse_duration("2h") == 7200.0
    with pytest.raises(ValueError):
        parse_duration("today")
    parser = build_parser()
    before = parser.parse_args(["alerts", "--url", "http://a", "--token", "t", "list"])
    after = parser.parse_args(["alerts", "list", "--url", "http://a", "--token", "t"])
    assert (before.url, before.token) == (after.url, after.token) == (["http://a"], "t")
    ack = parser.parse_args(["alerts", "ack", "--rule", "r", "--queue", "q", "--by", "ana"])
    assert (ack.fingerprint, ack.rule, ack.queue, ack.by, ack.url) == (None, "r", "q", "ana", None)


def test_no_evaluation_while_the_worker_replays_a_backlog() -> None:
    alerts, runtime, _, topic, dispatcher = make()
    limit = runtime.config.alerts.hold_while_behind_events

    def held_gauge() -> float:
        return float(alerts.held.collect()[0].samples[0].value)

    runtime.rate = 0.2  # above fire: would go pending at once, and fire 5 s later
    for _ in range(10):
        if not alerts.hold(limit + 1):  # a backlog: held, nothing evaluated
            alerts.tick()
        runtime.now += 1
    assert topic.records == [] and dispatcher.submitted == []
    assert alerts.held_behind == limit + 1 and held_gauge() == 1.0
    for _ in range(10):
        if not alerts.hold(limit):  # caught up (at the limit): evaluated again
            alerts.tick()
        runtime.now += 1
    assert [r["state"] for _, r in topic.records] == ["pending", "firing"]
    assert alerts.held_behind is None and held_gauge() == 0.0


def test_holding_can_be_turned_off() -> None:
    alerts, _, _, _, _ = make()
    alerts.hold_while_behind = 0
    assert not alerts.hold(10**9)


def test_events_behind_is_each_partitions_highwater_minus_its_next_offset_to_apply() -> None:
    from types import SimpleNamespace

    from faust.types.tuples import TP

    from streams.alerting.install import events_behind
    from streams.worker.ordering import PartitionOrder

    highwaters = {TP("t.telephony", 0): 120, TP("t.telephony", 1): 40, TP("t.alerts", 0): 999}
    consumer = SimpleNamespace(assignment=lambda: set(highwaters), highwater=highwaters.get)
    order = PartitionOrder(lambda key: {("t.telephony", 0): 100}.get(key))
    runtime = SimpleNamespace(order=order)
    app = SimpleNamespace(consumer=consumer)
    # Partition 0 resumes at 100 (20 behind), partition 1 from its start (40); alerts not counted.
    assert events_behind(app, runtime, {"t.telephony"}) == 60
    order.tail(("t.telephony", 1), 40)  # read up to its highwater
    assert events_behind(app, runtime, {"t.telephony"}) == 20


class ThreeQueues(FakeRuntime):
    def snapshots(self) -> dict[str, QueueSnapshot]:
        out = {}
        for queue, scale in (("billing", 1.0), ("sales", 0.4), ("support", 2.0)):
            rate = min(1.0, self.rate * scale)
            window = WindowKpis(answered=50, abandoned=round(rate * 50), abandon_rate=rate)
            out[queue] = QueueSnapshot(
                queue=queue, at=self.now, live=LiveKpis(), windows={"15m": window}
            )
        return out


def test_evaluation_in_slices_gives_what_one_evaluation_gives() -> None:
    import asyncio

    runs = []
    for sliced in (False, True):
        runtime, topic, dispatcher = ThreeQueues(), FakeTopic(), FakeDispatcher()
        runtime.store = FakeStore({"billing": 3, "sales": 3, "support": 3})
        alerts = AlertRuntime(runtime, FakeTable(), topic, dispatcher, CollectorRegistry())  # type: ignore[arg-type]
        alerts.restore({3})
        counts = []
        for rate, seconds in ((0.2, 8), (0.04, 3), (0.3, 7)):
            runtime.rate = rate
            for _ in range(seconds):
                snapshots = runtime.snapshots()
                if sliced:  # the loop given back after every queue
                    counts.append(asyncio.run(alerts.tick_in_slices(snapshots, 0.0)))
                else:
                    counts.append(alerts.tick(snapshots))
                runtime.now += 1
        records = [(key, record["state"], record["queue"]) for key, record in topic.records]
        submitted = [(n.status, n.summary) for n in dispatcher.submitted]
        runs.append((counts, records, submitted, alerts.firing()))  # firing: compared too
    assert runs[0] == runs[1]
    counts, records, submitted, _ = runs[0]
    assert sum(counts) == len(records) and {queue for _, _, queue in records} == {
        "billing",
        "sales",
        "support",
    }
    # sales (0.4 x the rate) fires only in the last stretch (12 %), the others earlier too;
    # support (2 x) never drops under its threshold, so it is notified once.
    assert [summary.split(" is ")[0] for status, summary in submitted if status == "firing"] == [
        "Abandonment on billing",
        "Abandonment on support",
        "Abandonment on billing",
        "Abandonment on sales",
    ]


def test_the_notified_state_is_written_only_once_kafka_has_the_notification() -> None:
    """The notification record and the state that says "notified" are two Kafka writes: the
    state is written only after the record is acknowledged. A worker killed between the two
    leaves "not notified" on the changelog, and the next owner pages again with the same
    transition id (the receivers' idempotency key) instead of never paging."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        held: list[asyncio.Future[Any]] = []

        class HeldTopic(FakeTopic):
            def send_soon(self, key: bytes, value: bytes) -> asyncio.Future[Any]:  # type: ignore[override]
                super().send_soon(key, value)
                held.append(loop.create_future())
                return held[-1]

        runtime, table, topic = FakeRuntime(), FakeTable(), HeldTopic()
        publisher = NotificationPublisher(topic, "w1")
        alerts = AlertRuntime(runtime, table, topic, publisher, CollectorRegistry())  # type: ignore[arg-type]
        alerts.restore({3})
        step(alerts, runtime, 0.2, 10)
        pages = [r for _, r in topic.records if r["kind"] == "notification"]
        assert [p["notification"]["status"] for p in pages] == ["firing"]
        written = [decode_alert_states(value) for _, _, value in table.sent]
        assert written and not any(s.notified for states in written for s in states)

        # Killed now: the next owner restores "not notified" and pages again, same id.
        changelog = {key: value for _, key, value in table.sent}
        again, runtime2, _, _, dispatcher2 = make(FakeTable(data=changelog))
        runtime2.now = runtime.now
        step(again, runtime2, 0.2, 1)
        assert [n.id for n in dispatcher2.submitted] == [pages[0]["id"]]

        # Not killed: once Kafka has the record, the state that says "notified" follows.
        for future in held:
            if not future.done():
                future.set_result(None)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert decode_alert_states(table.sent[-1][2])[0].notified

        # Its resolution: until Kafka has that record, the changelog keeps the firing state,
        # so the next owner would resolve it again (same id) rather than never.
        step(alerts, runtime, 0.05, 1)
        assert topic.records[-1][1]["notification"]["status"] == "resolved"
        (kept,) = decode_alert_states(table.sent[-1][2])
        assert (kept.state, kept.notified) == ("firing", True)
        held[-1].set_result(None)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert decode_alert_states(table.sent[-1][2])[0].state != "firing"

    asyncio.run(main())
