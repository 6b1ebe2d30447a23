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

import pytest
import yaml
from kafka import KafkaConsumer

from streams.broker import EmbeddedBroker
from streams.config import load_config
from streams.topics import ensure_topics, topic_specs
from tests.servers import (
    AlertmanagerServer,
    PrometheusServer,
    WebhookSink,
    free_port,
    stop_pid,
)
from tests.worker_proc import ROOT, WorkerProcess

pytestmark = pytest.mark.integration

TOKEN = "e2e-secret-token"
RULE = "billing_queue_long"
SPEED = 15


def write_config(path: Path, prefix: str, alertmanager: str) -> Path:
    config = {
        "topics": {
            "telephony": f"{prefix}.telephony",
            "ticketing": f"{prefix}.ticketing",
            "alerts": f"{prefix}.alerts",
            "deadletter": f"{prefix}.deadletter",
            "partitions": 2,
        },
        "worker": {
            "snapshot_interval_seconds": 2.0,
            "batch_within_seconds": 0.1,
            "api_token": TOKEN,
        },
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
        "notify": {
            "receivers": {
                "am": {"kind": "alertmanager", "url": alertmanager, "resend_interval_seconds": 15}
            },
            "default_receivers": ["am"],
        },
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


def diagnose(worker: WorkerProcess, sink: WebhookSink) -> str:
    """What a failed wait should show: the worker's alerts and billing gauges, the sink, logs."""
    try:
        alerts = worker.get("/api/alerts").decode()
        billing = worker.kpis()["queues"].get("billing", {}).get("live")
    except (OSError, ValueError) as exc:
        alerts, billing = f"(unavailable: {exc})", None
    return f"alerts: {alerts}\nbilling live: {billing}\nsink: {sink.records()}\n{worker.log_tail()}"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_surge_fires_once_through_alertmanager_survives_a_restart_and_resolves(
    broker: EmbeddedBroker, tmp_path: Path, topic_prefix: str
) -> None:
    sink = WebhookSink(tmp_path / "sink").start()
    alertmanager = AlertmanagerServer(tmp_path / "am", sink.url).start()
    config_path = write_config(tmp_path / "ccpulse.yaml", topic_prefix, alertmanager.url)
    config = load_config(config_path)
    ensure_topics(broker.bootstrap, topic_specs(config.topics))
    port = free_port()
    app_id = f"{topic_prefix}-app"
    worker = WorkerProcess(broker.bootstrap, port, tmp_path, app_id=app_id, config=config_path)
    prometheus = PrometheusServer(tmp_path / "prom", [f"127.0.0.1:{port}"])
    simulator: subprocess.Popen[bytes] | None = None
    restarted: WorkerProcess | None = None
    try:
        worker.start()
        prometheus.start()
        sim_log = open(tmp_path / "simulate.log", "wb")  # noqa: SIM115 - closed with the process
        simulator = subprocess.Popen(
            [
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
                "60",
                "--scenario-duration",
                "900",
                "--surge-factor",
                "40",
                "--speed",
                str(SPEED),
                "--duration",
                "3600",
                "--seed",
                "5",
            ],
            cwd=ROOT,
            stdout=sim_log,
            stderr=sim_log,
        )

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

        # 4. Restart the worker in the middle of the firing: same alert, nobody paged again.
        since = firing[0]["since"]
        time.sleep(1.0)  # let the changelog writes of the ack leave the producer
        worker.stop()
        restarted = WorkerProcess(
            broker.bootstrap, port, tmp_path, app_id=app_id, config=config_path
        ).start()
        again = wait_for(lambda: firing_alerts(restarted), 60, "the restored alert")
        assert again[0]["fingerprint"] == fingerprint and again[0]["since"] == since
        assert again[0]["acknowledged_by"] == "ana"

        # 5. The surge ends, the queue drains below `clear`, the resolution is delivered.
        resolved = wait_for(
            lambda: deliveries(sink, "resolved"),
            150,
            "the resolution",
            lambda: diagnose(restarted, sink),
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
    assert transitions[:2] == ["pending", "firing"] and transitions[-1] == "resolved"
    assert transitions.count("firing") == 1
    assert [(r["by"], r["queue"]) for r in ours if r["kind"] == "ack"] == [("ana", "billing")]
