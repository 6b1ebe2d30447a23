"""``ccpulse ingest webhooks`` for real on 127.0.0.1 with the session broker: vendors' signed
payloads reach the topics, tampered ones get 401, unmappable ones are dead-lettered with 202,
a full buffer answers 503, and under load every request answered 2xx is on the topic."""

from __future__ import annotations

import asyncio
import json
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests import webhook_payloads as wp
from tests.ingest_helpers import IngestProcess, create_topics, read_topics, write_config
from tests.servers import free_port
from tests.worker_proc import Broker

pytestmark = pytest.mark.integration

T0 = 1795341600
AT = "2026-11-22T10:00:00Z"

SOURCES: dict[str, Any] = {
    "twilio": {"auth_token": wp.TWILIO_TOKEN, "queue_map": {"Support EN": "support"}},
    "zendesk": {"signing_secret": wp.ZENDESK_SECRET, "group_queues": {"360001": "support"}},
    "jira": {"secret": wp.JIRA_SECRET, "token": "jira-token", "project_queues": {"SUP": "it"}},
}


class Service:
    def __init__(
        self, proc: IngestProcess, port: int, topics: dict[str, str], bootstrap: str
    ) -> None:
        self.proc, self.port, self.topics, self.bootstrap = proc, port, topics, bootstrap
        self.url = f"http://127.0.0.1:{port}"

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        request = urllib.request.Request(self.url + path, data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        with urllib.request.urlopen(self.url + "/metrics", timeout=10) as response:
            text = response.read().decode()
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }


def start_service(
    tmp_path: Path, prefix: str, bootstrap: str, broker: Broker | None, **hooks: Any
) -> Service:
    port = free_port()
    config = tmp_path / "ccpulse.yaml"
    topics = write_config(config, prefix, {**SOURCES, "webhooks": hooks})
    if broker is not None:
        create_topics(broker, config)
    args = ["webhooks", "--port", str(port), "--bootstrap", bootstrap]
    proc = IngestProcess(config, args, tmp_path / "webhooks.log").start()
    proc.wait_http(f"http://127.0.0.1:{port}/healthz")
    return Service(proc, port, topics, bootstrap)


@pytest.fixture
def service(tmp_path: Path, topic_prefix: str, broker: Broker) -> Iterator[Service]:
    running = start_service(tmp_path, topic_prefix, broker.bootstrap, broker)
    try:
        yield running
    finally:
        running.proc.stop()


def test_signed_payloads_are_produced_and_tampered_ones_refused(service: Service) -> None:
    url = service.url + "/twilio/taskrouter"
    params = wp.taskrouter(
        "task-queue.entered", T0, "EV1", **wp.task_fields("WT1", "Support EN", T0)
    )
    body = wp.twilio_form(params)
    assert service.post("/twilio/taskrouter", body, wp.twilio_headers(url, params))[0] == 204
    tampered = wp.twilio_form({**params, "TaskQueueName": "Other"})
    assert service.post("/twilio/taskrouter", tampered, wp.twilio_headers(url, params))[0] == 401

    zendesk = wp.dumps(wp.zendesk_event("ticket.created", "zd-e1", AT, "35436", "360001", {}))
    assert service.post("/zendesk", zendesk, wp.zendesk_headers(zendesk))[0] == 200
    forged = zendesk.replace(b"35436", b"35437")
    assert service.post("/zendesk", forged, wp.zendesk_headers(zendesk))[0] == 401

    jira = wp.dumps(wp.jira_issue("jira:issue_created", T0 * 1000, "10002", "SUP-1"))
    assert service.post("/jira", jira, wp.jira_headers(jira))[0] == 200
    assert service.post("/jira", jira, wp.jira_headers(jira, secret="wrong"))[0] == 401
    jira2 = wp.dumps(wp.jira_issue("jira:issue_created", T0 * 1000, "10003", "SUP-2"))
    token = {"X-Ccpulse-Token": "jira-token", "Content-Type": "application/json"}
    assert service.post("/jira", jira2, token)[0] == 200

    unmappable = b'{"hello": "world"}'
    status, answer = service.post("/zendesk", unmappable, wp.zendesk_headers(unmappable))
    assert status == 202 and json.loads(answer)["deadlettered"].startswith("no type")

    expected_ids = {"tw-WT1:entered:support", "zd-zd-e1", "jira-10002-1795341600000:created"}
    topics = [
        service.topics["telephony"],
        service.topics["ticketing"],
        service.topics["deadletter"],
    ]

    def complete(records: list[Any]) -> bool:
        ids = {r.get("id") for r in records}
        return expected_ids <= ids and any(r.get("reason_code") == "unmappable" for r in records)

    records = read_topics(service.bootstrap, topics, complete)
    ids = {r.get("id") for r in records}
    assert expected_ids <= ids
    assert "jira-10003-1795341600000:created" in ids
    (dead,) = [r for r in records if r.get("reason_code") == "unmappable"]
    assert dead["original_text"] == unmappable.decode()
    assert dead["source"] == {"source": "zendesk"}
    entered = next(r for r in records if r.get("id") == "tw-WT1:entered:support")
    assert (entered["type"], entered["queue"], entered["call_id"]) == (
        "call.entered",
        "support",
        "WT1",
    )

    metrics = service.metrics()
    rejected = {
        labels: value
        for (name, labels), value in metrics.items()
        if name == "ccpulse_ingest_rejected_total"
    }
    assert rejected == {
        (("reason", "bad_signature"), ("source", "twilio")): 1.0,
        (("reason", "bad_signature"), ("source", "zendesk")): 1.0,
        (("reason", "bad_signature"), ("source", "jira")): 1.0,
    }
    assert (
        metrics[
            ("ccpulse_ingest_deadlettered_total", (("reason", "unmappable"), ("source", "zendesk")))
        ]
        == 1.0
    )


def zendesk_request(number: int) -> tuple[str, bytes, dict[str, str]]:
    payload = wp.zendesk_event("ticket.created", f"load-{number}", AT, str(number), "360001", {})
    body = wp.dumps(payload)
    return f"zd-load-{number}", body, wp.zendesk_headers(body)


async def load(url: str, count: int, concurrency: int) -> dict[str, int]:
    """POST ``count`` signed Zendesk payloads, ``concurrency`` at a time: id -> status."""
    statuses: dict[str, int] = {}
    semaphore = asyncio.Semaphore(concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def one(number: int) -> None:
            ident, body, headers = zendesk_request(number)
            async with semaphore:
                try:
                    async with session.post(url, data=body, headers=headers) as response:
                        await response.read()
                        statuses[ident] = response.status
                except (aiohttp.ClientError, TimeoutError):
                    statuses[ident] = 0

        await asyncio.gather(*(one(n) for n in range(count)))
    return statuses


def test_under_load_every_request_answered_2xx_is_on_the_topic(
    tmp_path: Path, topic_prefix: str, broker: Broker
) -> None:
    svc = start_service(tmp_path, topic_prefix, broker.bootstrap, broker, buffer_capacity=1000)
    try:
        started = time.monotonic()
        statuses = asyncio.run(asyncio.wait_for(load(svc.url + "/zendesk", 2000, 20), 120))
        elapsed = time.monotonic() - started
        accepted = {ident for ident, status in statuses.items() if 200 <= status < 300}
        assert set(statuses.values()) <= {200, 503}, sorted(set(statuses.values()))
        records = read_topics(
            broker.bootstrap,
            [svc.topics["ticketing"]],
            lambda rs: accepted <= {r["id"] for r in rs},
            timeout=90,
        )
        on_topic = {r["id"] for r in records}
        assert accepted <= on_topic, f"{len(accepted - on_topic)} accepted but not produced"
        refused = len(statuses) - len(accepted)
        print(f"2000 requests in {elapsed:.1f} s: {len(accepted)} accepted, {refused} got 503")
        metrics = svc.metrics()
        assert metrics[
            ("ccpulse_ingest_requests_total", (("source", "zendesk"), ("status", "200")))
        ] == len(accepted)
    finally:
        assert svc.proc.stop() == 0, svc.proc.log()
    assert "stopping with payloads not acknowledged" not in svc.proc.log()


def test_a_full_buffer_answers_503_never_2xx_and_drop(tmp_path: Path, topic_prefix: str) -> None:
    # No broker at all: nothing can be acknowledged, so the buffer fills and stays full.
    dead = f"127.0.0.1:{free_port()}"
    svc = start_service(
        tmp_path, topic_prefix, dead, None, buffer_capacity=5, drain_timeout_seconds=1
    )
    try:
        statuses = []
        for number in range(8):
            _, body, headers = zendesk_request(number)
            statuses.append(svc.post("/zendesk", body, headers)[0])
        assert statuses == [200] * 5 + [503] * 3
        metrics = svc.metrics()
        assert metrics[("ccpulse_ingest_buffer_depth", ())] == 5
        assert metrics[("ccpulse_ingest_buffer_capacity", ())] == 5
        assert metrics[("ccpulse_ingest_buffer_full_total", (("source", "zendesk"),))] == 3
    finally:
        code = svc.proc.stop(signal.SIGTERM)
    # What it accepted and could not produce is reported, and the exit code says so.
    assert code == 1
    assert "stopping with payloads not acknowledged by Kafka" in svc.proc.log()
