"""A whole running ccpulse for the dashboard and wallboard tests: broker topics, a worker with
an alert rule that fires and a webhook receiver, the simulator producing live traffic, and a real
Prometheus scraping the worker. Every process is real, on 127.0.0.1, and stopped by its PID.

The scenario makes every dashboard panel legitimately non-empty: the simulator sends two hours
of history at once then paces at 5x real time (windows filled, values moving), with a surge on
the first queue from 15 minutes ago (abandons, long waits); a rule on the
first queue's backlog fires as soon as it has a ticket (``ccpulse_alert_firing``, a red tile);
the webhook receiver refuses its first request (``ccpulse_alert_notification_failures_total``)
and accepts the retry (``ccpulse_alert_notifications_total``); three undecodable messages go to
the dead-letter topic; one event produced under the wrong key is re-keyed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from kafka import KafkaProducer

from tests.servers import PrometheusServer, WebhookSink, free_port, stop_pid
from tests.worker_proc import ROOT, Broker, WorkerProcess

FIRING_QUEUE_RULE = "wallboard_test_backlog"
SIM_SPEED = 5.0
BACKFILL_SECONDS = 7200
"""Two hours of history: tickets are solved 30 min or more after creation, so the 1 h window
holds solved (and reopened) tickets."""


def write_config(path: Path, prefix: str, webhook_url: str, firing_queue: str) -> Path:
    config = {
        "topics": {
            "telephony": f"{prefix}.telephony",
            "ticketing": f"{prefix}.ticketing",
            "alerts": f"{prefix}.alerts",
            "deadletter": f"{prefix}.deadletter",
            "partitions": 4,
        },
        "worker": {"snapshot_interval_seconds": 5.0, "batch_within_seconds": 0.2},
        # The Queue detail dashboard's "By channel" row reads the per-channel families.
        "metrics": {"per_channel": True},
        # The simulator runs at SIM_SPEED: past its backfill, its events run ahead of the
        # clock (docs/kpis.md#time).
        "engine": {"max_future_seconds": 86_400.0},
        "alerts": {
            "rules": [
                {
                    # Low on purpose: fires as soon as the queue has one open ticket.
                    "name": FIRING_QUEUE_RULE,
                    "kpi": "backlog",
                    "direction": "above",
                    "fire": 0,
                    "clear": 0,
                    "queues": [firing_queue],
                    "severity": "critical",
                }
            ]
        },
        "notify": {
            "receivers": {
                "test-hook": {
                    "kind": "webhook",
                    "url": webhook_url,
                    "timeout_seconds": 5,
                    "backoff_initial_seconds": 0.2,
                    "backoff_max_seconds": 1,
                }
            },
            "default_receivers": ["test-hook"],
        },
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def simulator_queues() -> list[str]:
    """The queues the simulator produces."""
    from streams.offline.simulator.traffic import default_queues

    return [model.name for model in default_queues()]


@dataclass
class Stack:
    workdir: Path
    broker: Broker
    prefix: str
    queues: list[str]
    worker: WorkerProcess | None = None
    prometheus: PrometheusServer | None = None
    sink: WebhookSink | None = None
    simulator: subprocess.Popen[bytes] | None = None
    topics: dict[str, str] = field(default_factory=dict)

    def start(self) -> Stack:
        from streams.broker.topics import ensure_topics, topic_specs
        from streams.config import load_config

        self.sink = WebhookSink(self.workdir / "sink", fail_first=1).start()
        config_path = write_config(
            self.workdir / "ccpulse.yaml", self.prefix, self.sink.url, self.queues[0]
        )
        config = load_config(config_path)
        ensure_topics(self.broker.bootstrap, topic_specs(config.topics))
        self.topics = {
            "telephony": config.topics.telephony,
            "ticketing": config.topics.ticketing,
        }
        self.worker = WorkerProcess(
            self.broker,
            free_port(),
            self.workdir,
            app_id=f"{self.prefix}-app",
            config=config_path,
        ).start()
        self._bad_events()
        log = open(self.workdir / "simulator.log", "wb")  # noqa: SIM115 - closed with the process
        self.simulator = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streams.cli",
                "--config",
                str(config_path),
                "simulate",
                "--bootstrap",
                self.broker.bootstrap,
                "--backfill",
                str(BACKFILL_SECONDS),
                "--speed",
                str(SIM_SPEED),
                "--seed",
                "5",
                # Peak traffic whatever the hour: every queue then has abandoned calls for the
                # per-queue abandon and Erlang A panels (a run in London's evening had none on
                # billing).
                "--flat-day",
                # A surge on the first queue: long waits and abandons there (avg abandon time,
                # Erlang A's patience, the default rules firing).
                "--scenario",
                "surge",
                "--scenario-queue",
                self.queues[0],
                "--scenario-start",
                str(BACKFILL_SECONDS - 900),
                "--surge-factor",
                "3",
            ],
            cwd=ROOT,
            stdout=log,
            stderr=log,
        )
        self.prometheus = PrometheusServer(
            self.workdir / "prometheus", [f"127.0.0.1:{self.worker.port}"]
        ).start()
        return self

    def _bad_events(self) -> None:
        """Three undecodable messages (dead letters) and one event under the wrong key."""
        producer = KafkaProducer(bootstrap_servers=self.broker.bootstrap)
        for value in (b"\x00not json", b'{"type": "call.teleported"}', b"[]"):
            producer.send(self.topics["telephony"], key=self.queues[0].encode(), value=value)
        misplaced = {
            "type": "call.entered",
            "id": f"{self.prefix}-rekey-1",
            "time": datetime.now(UTC).isoformat(),
            "queue": self.queues[0],
            "call_id": f"{self.prefix}-rekey-call",
        }
        producer.send(
            self.topics["telephony"], key=b"not-the-queue", value=json.dumps(misplaced).encode()
        )
        producer.flush()
        producer.close()

    def wait_for_queues(self, timeout: float = 90.0) -> dict[str, Any]:
        assert self.worker is not None
        deadline = time.monotonic() + timeout
        document: dict[str, Any] = {}
        while time.monotonic() < deadline:
            document = self.worker.kpis()
            if set(self.queues) <= set(document.get("queues", {})):
                return document
            time.sleep(0.5)
        raise TimeoutError(
            f"queues {self.queues} not all seen: {document.get('queues', {}).keys()}"
        )

    def wait_for_scrape(self, timeout: float = 60.0) -> None:
        """Until Prometheus holds every queue's live gauges."""
        assert self.prometheus is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = {
                r["metric"].get("queue") for r in self.prometheus.query("ccpulse_queue_backlog")
            }
            if set(self.queues) <= seen:
                return
            time.sleep(0.5)
        raise TimeoutError("Prometheus has not scraped every queue")

    def stop(self) -> None:
        if self.simulator is not None:
            stop_pid(self.simulator)
        if self.prometheus is not None:
            self.prometheus.stop()
        if self.worker is not None:
            self.worker.stop()
        if self.sink is not None:
            self.sink.kill()
