"""The webhook handlers in-process (unit tests: a stand-in producer instead of Kafka)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from streams.config import Config
from streams.ingest.metrics import IngestMetrics
from streams.ingest.producer import Record
from streams.ingest.webhooks import IngestBuffer, ProducerThread, build_app
from streams.sources.settings import (
    JiraSourceConfig,
    SourcesConfig,
    TwilioSourceConfig,
    WebhooksConfig,
)
from tests import webhook_payloads as wp

T0 = 1795341600


class StandInProducer:
    """Acknowledges everything at once, or never (``release`` not set)."""

    def __init__(self) -> None:
        self.sent: list[Record] = []
        self.release = threading.Event()

    def send_until_acked(
        self, records: Sequence[Record], stopping: Callable[[], bool], on_error: Any
    ) -> bool:
        while not self.release.wait(0.05):
            if stopping():
                return False
        self.sent.extend(records)
        return True

    def close(self, timeout: float = 0.0) -> None:
        pass


def run(
    sources: SourcesConfig, scenario: Callable[[TestClient, StandInProducer], Awaitable[None]]
) -> IngestMetrics:
    config = Config(sources=sources)
    metrics = IngestMetrics()
    buffer = IngestBuffer(sources.webhooks.buffer_capacity)
    producer = StandInProducer()
    thread = ProducerThread(buffer, metrics, lambda: producer)  # type: ignore[arg-type, return-value]
    thread.start()

    async def main() -> None:
        server = TestServer(build_app(config, buffer, metrics), host="127.0.0.1")
        async with TestClient(server) as client:
            await scenario(client, producer)

    try:
        asyncio.run(main())
    finally:
        producer.release.set()
        thread.close()
    return metrics


def test_an_endpoint_without_its_secret_refuses_everything() -> None:
    async def scenario(client: TestClient, producer: StandInProducer) -> None:
        body = wp.dumps(wp.jira_issue("jira:issue_created", T0 * 1000, "1", "SUP-1"))
        response = await client.post("/jira", data=body, headers=wp.jira_headers(body))
        assert response.status == 401
        assert (await response.json())["error"] == "no_secret_configured"

    metrics = run(SourcesConfig(), scenario)
    assert metrics.rejected.labels("jira", "no_secret_configured")._value.get() == 1


def test_twilio_signature_uses_the_configured_public_url() -> None:
    public = "https://ccpulse.example.com/twilio/taskrouter"
    sources = SourcesConfig(
        twilio=TwilioSourceConfig(auth_token=wp.TWILIO_TOKEN, public_url=public)
    )

    async def scenario(client: TestClient, producer: StandInProducer) -> None:
        producer.release.set()
        params = wp.taskrouter("task-queue.entered", T0, "EV1", **wp.task_fields("WT1", "q"))
        body = wp.twilio_form(params)
        good = await client.post(
            "/twilio/taskrouter", data=body, headers=wp.twilio_headers(public, params)
        )
        assert good.status == 204
        local = str(client.make_url("/twilio/taskrouter"))
        signed_locally = wp.twilio_headers(local, params)
        assert (
            await client.post("/twilio/taskrouter", data=body, headers=signed_locally)
        ).status == 401

    run(sources, scenario)


def test_acked_mode_answers_only_after_kafka_and_503_when_it_is_too_slow() -> None:
    sources = SourcesConfig(
        jira=JiraSourceConfig(secret=wp.JIRA_SECRET),
        webhooks=WebhooksConfig(respond_after="acked", ack_timeout_seconds=0.3),
    )

    async def scenario(client: TestClient, producer: StandInProducer) -> None:
        first = wp.dumps(wp.jira_issue("jira:issue_created", T0 * 1000, "1", "SUP-1"))
        slow = await client.post("/jira", data=first, headers=wp.jira_headers(first))
        assert slow.status == 503 and slow.headers["Retry-After"] == "5"
        assert producer.sent == []
        producer.release.set()
        second = wp.dumps(wp.jira_issue("jira:issue_created", T0 * 1000, "2", "SUP-2"))
        fast = await client.post("/jira", data=second, headers=wp.jira_headers(second))
        assert fast.status == 200
        # The first one stayed buffered and was produced as soon as the broker caught up (the
        # vendor's retry of it is a duplicate by id).
        ids = {record.value for record in producer.sent}
        assert any(b'"SUP-1"' in value for value in ids)
        assert any(b'"SUP-2"' in value for value in ids)

    run(sources, scenario)
