"""Alerts end to end, real processes on 127.0.0.1: embedded broker, ccpulse worker, the
simulator's ``surge`` scenario, Prometheus scraping the worker, Alertmanager receiving our
alert and delivering it to a webhook receiver.

The surge (arrivals x40 on ``billing``, so the queue overflows at any hour of the simulated
day) fills the queue; ``calls_waiting > 10`` for 60 s fires the rule; the worker posts it to
Alertmanager, which delivers it once; the worker is restarted in the middle of the firing
(no second page); the surge ends, the queue drains below the clear threshold, and the
resolution is delivered.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from kafka import KafkaConsumer

from processors.engine import KpiEngine
from processors.events import Event
from streams.broker.topics import ensure_topics, topic_specs
from streams.config import Config, TopicsConfig, load_config
from tests.servers import (
    AlertmanagerServer,
    PrometheusServer,
    WebhookSink,
    free_port,
    stop_pid,
)
from tests.worker_proc import ROOT, Broker, WorkerProcess

pytestmark = pytest.mark.integration

TOKEN = "e2e-secret-token"
RULE = "billing_queue_long"
SPEED = 15
DECODER = msgspec.json.Decoder(Event)


def write_config(path: Path, prefix: str, notify: dict[str, Any]) -> Path:
    config = {
        "topics": {
            "telephony": f"{prefix}.telephony",
            "ticketing": f"{prefix}.ticketing",
            "alerts": f"{prefix}.alerts",
            "deadletter": f"{prefix}.deadletter",
            "silences": f"{prefix}.silences",
            "partitions": 2,
        },
        "worker": {
            "snapshot_interval_seconds": 2.0,
            "batch_within_seconds": 0.1,
            "api_token": TOKEN,
            # A SIGKILLed worker's partitions move after 6 s, not Apache Kafka's default 30 s.
            "session_timeout_seconds": 6.0,
        },
        # The simulator runs SPEED times faster than real time, its events ahead of the clock:
        # allow that (docs/kpis.md#time).
        "engine": {"max_future_seconds": 86_400.0},
        "alerts": {
            "use_default_rules": False,
            "rules": [
                {
                    "name": RULE,
                    "kpi": "calls_waiting",
                    "queues": ["billing"],
                    "fire": 10,
                    "clear": 4,
                    "for_seconds": 60,
                    "severity": "critical",
                    "runbook_url": "https://runbooks.example.com/queue-long",
                }
            ],
        },
        "notify": notify,
    }
    path.write_text(yaml.safe_dump(config))
    return path


def wait_for(
    check: Callable[[], Any], timeout: float, what: str, log: Callable[[], str] = str
) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}\n{log()}")


def post(url: str, body: dict[str, Any], token: str | None) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def firing_alerts(worker: WorkerProcess) -> list[dict[str, Any]]:
    try:
        document = worker.get_json("/api/alerts")
    except (OSError, ValueError):
        return []
    return [a for a in document.get("alerts", []) if a["state"] == "firing"]


def deliveries(sink: WebhookSink, status: str) -> list[dict[str, Any]]:
    """Alertmanager webhook messages carrying our rule's alert with ``status``."""
    out = []
    for record in sink.records():
        for alert in record["body"].get("alerts", []):
            if alert["labels"].get("alertname") == RULE and alert["status"] == status:
                out.append(alert)
    return out


def replayed_billing(broker: Broker, topics: TopicsConfig, at: float) -> Any:
    """billing's live gauges at ``at`` recomputed from every event on the topics: tells a
    wrong KPI state in the worker (the pipeline) from a wrong alert decision."""
    consumer = KafkaConsumer(
        topics.telephony,
        topics.ticketing,
        bootstrap_servers=broker.bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
    )
    events = sorted((DECODER.decode(m.value) for m in consumer), key=lambda e: e.time)
    consumer.close()
    engine = KpiEngine()
    engine.apply_all(events)
    snapshot = engine.snapshot(at).get("billing")
    return None if snapshot is None else snapshot.live


def diagnose(
    worker: WorkerProcess,
    sink: WebhookSink,
    broker: Broker | None = None,
    topics: TopicsConfig | None = None,
) -> str:
    """What a failed wait should show: the worker's alerts and billing gauges (and the same
    gauges replayed from the topics), the sink, the log."""
    try:
        alerts = worker.get("/api/alerts").decode()
        document = worker.kpis()
        billing = document["queues"].get("billing", {}).get("live")
    except (OSError, ValueError) as exc:
        alerts, billing, document = f"(unavailable: {exc})", None, {}
    replayed = (
        replayed_billing(broker, topics, document["at"])
        if broker is not None and topics is not None and "at" in document
        else None
    )
    try:
        counters = [
            line
            for line in worker.get("/metrics").decode().splitlines()
            if line.startswith(("ccpulse_events_", "ccpulse_calls_", "ccpulse_alert_evaluation"))
            and ('queue="billing"' in line or "{" not in line or "topic=" in line)
        ]
    except OSError as exc:
        counters = [f"(unavailable: {exc})"]
    return (
        f"alerts: {alerts}\nbilling live: {billing}\nbilling replayed from the topics: "
        f"{replayed}\ncounters: {counters}\nsink: {sink.records()}\n{worker.log_tail()}"
    )


def start_surge(
    broker: Broker,
    config_path: Path,
    workdir: Path,
    speed: int = SPEED,
    start: int = 60,
    duration: int = 900,
    begin: str | None = None,
) -> subprocess.Popen[bytes]:
    """The simulator's surge on billing: from ``start`` for ``duration`` seconds of simulated
    time (default 60 s to 960 s), at ``speed`` x; ``begin``: the simulated start (ISO 8601,
    default now). A flat day: at the daily curve's night-time rate forty times the traffic held
    at most 9 callers waiting (CI at 01:40 UTC: the alert never fired), at its peak rate the
    queue's capacity of 25, whatever the hour the test runs."""
    log = open(workdir / "simulate.log", "wb")  # noqa: SIM115 - closed with the process
    command = [
        sys.executable,
        "-m",
        "streams.cli",
        "--config",
        str(config_path),
        "simulate",
        "--bootstrap",
        broker.bootstrap,
        "--scenario",
        "surge",
        "--scenario-queue",
        "billing",
        "--scenario-start",
        str(start),
        "--scenario-duration",
        str(duration),
        "--surge-factor",
        "40",
        "--speed",
        str(speed),
        "--duration",
        "3600",
        "--seed",
        "5",
        "--flat-day",
        *(["--start", begin] if begin else []),
    ]
    return subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=log)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_surge_fires_once_through_alertmanager_survives_a_restart_and_resolves(
    broker: Broker, tmp_path: Path, topic_prefix: str
) -> None:
    sink = WebhookSink(tmp_path / "sink").start()
    alertmanager = AlertmanagerServer(tmp_path / "am", sink.url).start()
    # Firing alerts are re-posted every 15 s with endsAt 60 s ahead: a restart of the worker
    # shorter than that keeps the alert alive in Alertmanager.
    receiver = {"kind": "alertmanager", "url": alertmanager.url, "resend_interval_seconds": 15}
    notify = {"receivers": {"am": receiver}, "default_receivers": ["am"]}
    config_path = write_config(tmp_path / "ccpulse.yaml", topic_prefix, notify)
    config = load_config(config_path)
    ensure_topics(broker.bootstrap, topic_specs(config.topics))
    port = free_port()
    app_id = f"{topic_prefix}-app"
    worker = WorkerProcess(broker, port, tmp_path, app_id=app_id, config=config_path)
    prometheus = PrometheusServer(tmp_path / "prom", [f"127.0.0.1:{port}"])
    simulator: subprocess.Popen[bytes] | None = None
    restarted: WorkerProcess | None = None
    try:
        worker.start()
        prometheus.start()
        simulator = start_surge(broker, config_path, tmp_path)

        # 1. The alert fires on the worker and is exported on /metrics, scraped by Prometheus.
        firing = wait_for(
            lambda: firing_alerts(worker), 90, "the alert to fire", lambda: diagnose(worker, sink)
        )
        assert firing[0]["rule"] == RULE and firing[0]["queue"] == "billing"
        assert firing[0]["severity"] == "critical" and firing[0]["threshold"] == 10
        assert firing[0]["summary"].startswith("Calls waiting on billing is ")
        fingerprint = firing[0]["fingerprint"]
        series = wait_for(
            lambda: prometheus.query(f'ccpulse_alert_firing{{rule="{RULE}"}} == 1'),
            30,
            "Prometheus to scrape ccpulse_alert_firing",
        )
        assert series[0]["metric"]["queue"] == "billing"
        assert series[0]["metric"]["severity"] == "critical"

        # 2. Alertmanager delivers it to the webhook receiver.
        first = wait_for(lambda: deliveries(sink, "firing"), 30, "Alertmanager's delivery")
        assert first[0]["labels"]["queue"] == "billing"
        assert first[0]["annotations"]["runbook_url"] == "https://runbooks.example.com/queue-long"
        assert first[0]["annotations"]["fingerprint"] == fingerprint

        # 3. Acknowledge: refused without the token, recorded with who did it with it.
        status, body = post(
            worker.url + "/api/alerts/ack", {"fingerprint": fingerprint, "by": "x"}, None
        )
        assert status == 401, body
        acked = cli(
            "alerts", "--url", worker.url, "--token", TOKEN, "ack", fingerprint, "--by", "ana"
        )
        assert acked.returncode == 0, acked.stderr
        listed = cli("alerts", "--url", worker.url, "list")
        assert listed.returncode == 0 and "acked by ana" in listed.stdout, listed
        silence = {"queue": "sales", "duration_seconds": 60, "by": "bob"}
        status, body = post(worker.url + "/api/silences", silence, "wrong-token")
        assert status == 401, body
        silenced = cli(
            "alerts",
            "--url",
            worker.url,
            "--token",
            TOKEN,
            "silence",
            "--queue",
            "sales",
            "--duration",
            "1h",
            "--by",
            "bob",
            "--comment",
            "planned",
        )
        assert silenced.returncode == 0 and "0 active alert(s) covered" in silenced.stdout, silenced
        document = worker.get_json("/api/alerts")
        assert [(s["queue"], s["created_by"]) for s in document["silences"]] == [("sales", "bob")]

        # 4. Restart the worker in the middle of the firing: same alert, nobody paged again.
        since = firing[0]["since"]
        time.sleep(1.0)  # let the changelog writes of the ack leave the producer
        worker.stop()
        restarted = WorkerProcess(broker, port, tmp_path, app_id=app_id, config=config_path).start()
        again = wait_for(lambda: firing_alerts(restarted), 60, "the restored alert")
        assert again[0]["fingerprint"] == fingerprint and again[0]["since"] == since
        assert again[0]["acknowledged_by"] == "ana"

        # 5. The surge ends, the queue drains below `clear`, the resolution is delivered.
        resolved = wait_for(
            lambda: deliveries(sink, "resolved"),
            150,
            "the resolution",
            lambda: diagnose(restarted, sink, broker, config.topics),
        )
        assert resolved[0]["labels"]["queue"] == "billing"
        assert len(deliveries(sink, "firing")) == 1, sink.records()
        assert firing_alerts(restarted) == []
        wait_for(
            lambda: not prometheus.query(f'ccpulse_alert_firing{{rule="{RULE}"}}'),
            30,
            "the gauge to disappear",
        )
    finally:
        if simulator is not None:
            stop_pid(simulator)
        for process in (restarted, worker):
            if process is not None:
                process.stop()
        prometheus.stop()
        alertmanager.stop()
        sink.stop()

    # 6. The alerts topic holds the whole story, keyed by the fingerprint.
    consumer = KafkaConsumer(
        config.topics.alerts,
        bootstrap_servers=broker.bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
    )
    records = [(m.key.decode(), json.loads(m.value)) for m in consumer]
    consumer.close()
    ours = [r for key, r in records if key == fingerprint]
    transitions = [r["state"] for r in ours if r["kind"] == "transition"]
    # The surge may dip below the threshold while pending (callers offered a callback after
    # 40 s: pending -> inactive -> pending); it fires once, after a pending, and resolves.
    assert transitions[0] == "pending" and transitions[-1] == "resolved"
    assert transitions.count("firing") == 1
    assert transitions[transitions.index("firing") - 1] == "pending"
    assert [(r["by"], r["queue"]) for r in ours if r["kind"] == "ack"] == [("ana", "billing")]
    silences = [r for _, r in records if r["kind"] == "silence"]
    assert [(r["queue"], r["created_by"], r["comment"]) for r in silences] == [
        ("sales", "bob", "planned")
    ]


def two_workers(
    broker: Broker, tmp_path: Path, topic_prefix: str, config_path: Path
) -> tuple[Config, list[WorkerProcess]]:
    """The configuration, its topics created, and two (not started) workers of one group."""
    config = load_config(config_path)
    ensure_topics(broker.bootstrap, topic_specs(config.topics))
    app_id = f"{topic_prefix}-app"
    return config, [
        WorkerProcess(broker, free_port(), tmp_path, app_id=app_id, config=config_path)
        for _ in range(2)
    ]


def webhook_notifications(sink: WebhookSink, kind: str) -> list[dict[str, Any]]:
    return [
        r["body"]
        for r in sink.records()
        if r["body"].get("rule") == RULE and r["body"].get("kind") == kind
    ]


def test_a_firing_alert_moves_with_its_queue_in_a_rebalance_without_re_paging(
    broker: Broker, tmp_path: Path, topic_prefix: str
) -> None:
    """Worker A fires and pages (generic webhook); worker B joins the group, then A is killed
    (SIGKILL): B owns billing, carries the same alert on, pages nobody again, and sends the
    resolution when the surge is over."""
    sink = WebhookSink(tmp_path / "sink").start()
    notify = {
        "receivers": {"hook": {"kind": "webhook", "url": sink.url}},
        "default_receivers": ["hook"],
    }
    config_path = write_config(tmp_path / "ccpulse.yaml", topic_prefix, notify)
    config, (first, second) = two_workers(broker, tmp_path, topic_prefix, config_path)
    simulator: subprocess.Popen[bytes] | None = None
    try:
        first.start()
        simulator = start_surge(broker, config_path, tmp_path)
        firing = wait_for(
            lambda: firing_alerts(first), 90, "the alert to fire", lambda: diagnose(first, sink)
        )
        paged = wait_for(lambda: webhook_notifications(sink, "firing"), 30, "the page")
        assert paged[0]["fingerprint"] == firing[0]["fingerprint"]
        time.sleep(1.0)  # the changelog write of the firing state leaves the producer

        second.start()
        first.kill()
        moved = wait_for(
            lambda: firing_alerts(second), 60, "the alert on the new owner", second.log_tail
        )
        assert moved[0]["fingerprint"] == firing[0]["fingerprint"]
        assert moved[0]["since"] == firing[0]["since"]

        resolved = wait_for(
            lambda: webhook_notifications(sink, "resolved"),
            150,
            "the resolution",
            lambda: diagnose(second, sink, broker, config.topics),
        )
        assert resolved[0]["fingerprint"] == firing[0]["fingerprint"]
        assert resolved[0]["starts_at"] == paged[0]["starts_at"]
        assert len(webhook_notifications(sink, "firing")) == 1, sink.records()
    finally:
        if simulator is not None:
            stop_pid(simulator)
        second.stop()
        first.stop()
        sink.stop()
