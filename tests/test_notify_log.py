"""A page is never lost (issue 25), real processes on 127.0.0.1: Apache Kafka (the ``broker``
fixture), ccpulse workers, the simulator's surge on ``billing`` and a webhook receiver.

1. The worker that owns the queue and delivers notifications is SIGKILLed after the firing
   transition is on the alerts topic and while the receiver holds its answer: the worker that
   takes over delivers it, exactly once by idempotency key (the transition's id), and the
   resolution later, exactly once too.
2. A silence posted to worker A mutes the alert of a queue worker B owns; after both restart,
   it still holds, and both list the same; an acknowledgement posted to A is applied by B;
   when the silence is expired (``ccpulse alerts expire`` on A) it is tombstoned on the
   silences topic and the alert, still firing, is paged then (once); a silence that ends by time
   is tombstoned too (``SilenceLog.sweep``).
"""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from kafka import KafkaConsumer

from streams.broker.topics import ensure_topics, topic_specs
from streams.config import load_config
from tests.servers import WebhookSink, free_port, stop_pid
from tests.test_alerts_e2e import (
    RULE,
    TOKEN,
    cli,
    diagnose,
    firing_alerts,
    post,
    start_surge,
    two_workers,
    wait_for,
    write_config,
)
from tests.worker_proc import Broker, WorkerProcess

pytestmark = pytest.mark.integration

FAST = {"backoff_initial_seconds": 0.2, "backoff_max_seconds": 1.0, "timeout_seconds": 60}


def hook_config(tmp_path: Path, prefix: str, sink: WebhookSink, **rule: Any) -> Path:
    notify = {
        "receivers": {"hook": {"kind": "webhook", "url": sink.url, **FAST}},
        "default_receivers": ["hook"],
        "repeat_interval_seconds": 0,
    }
    path = write_config(tmp_path / "ccpulse.yaml", prefix, notify)
    if rule:
        document = yaml.safe_load(path.read_text())
        document["alerts"]["rules"][0].update(rule)
        path.write_text(yaml.safe_dump(document))
    return path


def pages(sink: WebhookSink, kind: str) -> list[dict[str, Any]]:
    """What the receiver accepted for our rule, with the Idempotency-Key header."""
    return [
        {**r["body"], "header_key": r.get("idempotency_key")}
        for r in sink.records()
        if r["body"].get("rule") == RULE and r["body"].get("kind") == kind
    ]


def topic_records(bootstrap: str, topic: str) -> list[tuple[str, Any]]:
    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=2000
    )
    records = [
        (m.key.decode() if m.key else "", None if m.value is None else json.loads(m.value))
        for m in consumer
    ]
    consumer.close()
    return records


def transitions(bootstrap: str, topic: str, state: str) -> list[dict[str, Any]]:
    return [
        r
        for _, r in topic_records(bootstrap, topic)
        if r and r.get("kind") == "transition" and r["rule"] == RULE and r["state"] == state
    ]


def test_a_page_held_when_its_worker_dies_is_delivered_once_by_the_next_member(
    broker: Broker, tmp_path: Path, topic_prefix: str
) -> None:
    sink = WebhookSink(tmp_path / "sink").start()
    sink.hold()  # the first delivery attempt gets no answer: its worker dies waiting
    config_path = hook_config(tmp_path, topic_prefix, sink)
    config, (first, second) = two_workers(broker, tmp_path, topic_prefix, config_path)
    simulator: subprocess.Popen[bytes] | None = None
    try:
        first.start()
        simulator = start_surge(broker, config_path, tmp_path)
        held = wait_for(
            lambda: [h for h in sink.held() if h["body"].get("kind") == "firing"],
            120,
            "the page to reach the receiver",
            lambda: diagnose(first, sink),
        )
        fired = transitions(broker.bootstrap, config.topics.alerts, "firing")
        assert [t["id"] for t in fired] == [held[0]["body"]["transition_id"]]
        assert sink.records() == []  # nothing accepted yet
        time.sleep(1.0)  # the changelog write of the firing state leaves the producer
        first.kill()  # SIGKILL while the receiver holds its answer
        sink.release()

        second.start()
        paged = wait_for(
            lambda: pages(sink, "firing"), 120, "the page from the next member", second.log_tail
        )
        assert paged[0]["transition_id"] == fired[0]["id"]
        assert paged[0]["id"] == paged[0]["header_key"] == fired[0]["id"]

        resolved = wait_for(
            lambda: pages(sink, "resolved"),
            180,
            "the resolution",
            lambda: diagnose(second, sink, broker, config.topics),
        )
        ended = transitions(broker.bootstrap, config.topics.alerts, "resolved")
        assert [r["transition_id"] for r in resolved] == [ended[0]["id"]]
        assert resolved[0]["starts_at"] == paged[0]["starts_at"]
        # Exactly once each, by idempotency key (and here even by request).
        assert [p["id"] for p in pages(sink, "firing")] == [fired[0]["id"]], sink.records()
        assert len(fired) == 1
    finally:
        if simulator is not None:
            stop_pid(simulator)
        second.stop()
        first.stop()
        sink.stop()


def owner_of_billing(workers: list[WorkerProcess]) -> WorkerProcess | None:
    for worker in workers:
        try:
            if "billing" in worker.kpis().get("queues", {}):
                return worker
        except (OSError, ValueError):
            pass
    return None


def notification_records(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    return [
        r
        for _, r in topic_records(bootstrap, topic)
        if r and r.get("kind") == "notification" and r["notification"]["rule"] == RULE
    ]


def test_a_silence_posted_to_one_worker_mutes_another_and_survives_restarting_all(
    broker: Broker, tmp_path: Path, topic_prefix: str
) -> None:
    sink = WebhookSink(tmp_path / "sink").start()
    # The surge holds up to 25 callers waiting, fewer in its first minute at 2x real time:
    # fire at 6, so the alert fires early and does not flap around its threshold.
    config_path = hook_config(tmp_path, topic_prefix, sink, fire=6, clear=2, for_seconds=20)
    config = load_config(config_path)
    ensure_topics(broker.bootstrap, topic_specs(config.topics))
    app_id = f"{topic_prefix}-app"
    ports = [free_port(), free_port()]

    def workers() -> list[WorkerProcess]:
        return [
            WorkerProcess(broker, port, tmp_path, app_id=app_id, config=config_path)
            for port in ports
        ]

    running = workers()
    simulator: subprocess.Popen[bytes] | None = None
    try:
        for worker in running:
            worker.start()
        # At 2x real time from 10 minutes ago: for the test's first 10 minutes the events stay
        # behind the wall clock, so the engine's "now" is the wall clock, the time of the
        # silence posted to the worker that does not own the queue.
        begin = datetime.fromtimestamp(time.time() - 600, UTC).isoformat()
        simulator = start_surge(
            broker, config_path, tmp_path, speed=2, start=10, duration=1800, begin=begin
        )
        owner = wait_for(lambda: owner_of_billing(running), 60, "billing to have an owner")
        other = next(w for w in running if w is not owner)

        # 1. Silence billing on the worker that does not own it, before the alert fires.
        # An hour: it must hold across the restart however slow the machine; step 3 ends it.
        silence = {"queue": "billing", "rule": RULE, "duration_seconds": 3600, "by": "ana"}
        status, body = post(other.url + "/api/silences", silence, TOKEN)
        assert status == 201, body
        silence_id = body["silence"]["id"]
        firing = wait_for(
            lambda: firing_alerts(owner), 180, "the alert to fire", lambda: diagnose(owner, sink)
        )
        assert firing[0]["silenced"] and firing[0]["silence_id"] == silence_id
        fired = transitions(broker.bootstrap, config.topics.alerts, "firing")
        assert fired[0]["silenced"] is True
        # The notification would be published in the tick of the transition: there is none.
        assert notification_records(broker.bootstrap, config.topics.alerts) == []
        listed = [w.get_json("/api/alerts")["silences"] for w in running]
        assert listed[0] == listed[1] and [s["id"] for s in listed[0]] == [silence_id]

        # 2. Restart every worker: the silence is read back from the compacted topic.
        for worker in running:
            worker.stop()
        running = workers()
        for worker in running:
            worker.start()
        owner = wait_for(lambda: owner_of_billing(running), 60, "billing to have an owner")
        again = wait_for(lambda: firing_alerts(owner), 90, "the restored alert", owner.log_tail)
        assert again[0]["silenced"] and again[0]["silence_id"] == silence_id

        listed: list[Any] = []

        def both_list_it() -> bool:
            listed[:] = [w.get_json("/api/alerts")["silences"] for w in running]
            return listed[0] == listed[1] and [s["id"] for s in listed[0]] == [silence_id]

        # Each worker reads the silences topic from its beginning once started (not part of
        # /ready; its alerts are not evaluated until it has: streams/alerting/runtime.py). A
        # single look right after the owner's alert came back found the other worker still
        # reading, once in a fresh clone's make test.
        wait_for(
            both_list_it, 30, "both workers to list the silence", lambda: f"listed: {listed!r}"
        )
        assert notification_records(broker.bootstrap, config.topics.alerts) == []
        assert pages(sink, "firing") == []
        # `ccpulse alerts list` is the same on every worker: the alert, silenced, and the silence.
        shown = [cli("alerts", "--url", w.url, "list") for w in running]
        assert shown[0].returncode == 0 and shown[0].stdout == shown[1].stdout, shown
        assert f"{fired[0]['fingerprint']}" in shown[0].stdout and "[silenced]" in shown[0].stdout
        assert f"silence  {silence_id}" in shown[0].stdout
        # An acknowledgement posted to the worker that does not own the alert: 202, and the
        # owner applies it from the silences topic.
        other = next(w for w in running if w is not owner)
        ack = {"fingerprint": fired[0]["fingerprint"], "by": "bob"}
        status, body = post(other.url + "/api/alerts/ack", ack, TOKEN)
        assert status == 202, body
        wait_for(
            lambda: [a for a in firing_alerts(owner) if a["acknowledged_by"] == "bob"],
            30,
            "the owner to apply the acknowledgement",
        )

        # 3. Expired on the worker that does not own the alert: tombstoned on the silences
        # topic, and the alert, still firing, is paged then, once. A second, short silence
        # (of a rule that is not configured) ends by time: tombstoned by the sweep.
        assert pages(sink, "firing") == []
        short = {"queue": "billing", "rule": "no-such-rule", "duration_seconds": 5, "by": "ana"}
        status, body = post(other.url + "/api/silences", short, TOKEN)
        assert status == 201, body
        short_key = f"silence/{body['silence']['id']}"
        expired = cli("alerts", "--url", other.url, "--token", TOKEN, "expire", silence_id)
        assert expired.returncode == 0 and f"expired silence {silence_id}" in expired.stdout, (
            expired
        )
        paged = wait_for(
            lambda: pages(sink, "firing"), 120, "the page after the silence", owner.log_tail
        )
        assert paged[0]["transition_id"] == fired[0]["id"]
        key = f"silence/{silence_id}"
        wait_for(
            lambda: (
                [v for k, v in topic_records(broker.bootstrap, config.topics.silences) if k == key][
                    -1:
                ]
                == [None]
            ),
            60,
            "the expired silence's tombstone",
        )
        wait_for(
            lambda: (
                [
                    v
                    for k, v in topic_records(broker.bootstrap, config.topics.silences)
                    if k == short_key
                ][-1:]
                == [None]
            ),
            60,
            "the short silence's tombstone at its end",
        )
        assert all(w.get_json("/api/alerts")["silences"] == [] for w in running)
        assert len(notification_records(broker.bootstrap, config.topics.alerts)) == 1
    finally:
        if simulator is not None:
            stop_pid(simulator)
        for worker in running:
            worker.stop()
        sink.stop()
