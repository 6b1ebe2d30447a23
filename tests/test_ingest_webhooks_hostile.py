"""``ccpulse ingest webhooks`` under hostile requests, for real on 127.0.0.1 with the session
broker: signature headers that are not ASCII get 401, payloads with timestamps out of any range or
JSON nested thousands deep are dead-lettered (202) with their reason, a replayed Zendesk request
is refused by the default 300 s window, and a body over ``max_body_bytes`` gets 413. Never a
500, and the service goes on serving good requests."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import webhook_payloads as wp
from tests.ingest_helpers import read_topics
from tests.test_ingest_webhooks import T0, Service, start_service
from tests.worker_proc import Broker

pytestmark = pytest.mark.integration

LATIN1 = "sig-\u00e9\u00ff"  # sent as the bytes E9 FF: not UTF-8, not ASCII


@pytest.fixture
def service(tmp_path: Path, topic_prefix: str, broker: Broker) -> Iterator[Service]:
    running = start_service(
        tmp_path, topic_prefix, broker.bootstrap, broker, max_body_bytes=64 * 1024
    )
    try:
        yield running
    finally:
        running.proc.stop()


def test_non_ascii_signature_headers_get_401(service: Service) -> None:
    url = service.url + "/twilio/taskrouter"
    params = wp.taskrouter("task.created", T0, "EV9", **wp.task_fields("WT9", "Support EN"))
    body = wp.twilio_form(params)
    twilio = {**wp.twilio_headers(url, params), "X-Twilio-Signature": LATIN1}
    assert service.post("/twilio/taskrouter", body, twilio)[0] == 401

    zendesk = wp.dumps(
        wp.zendesk_event("ticket.created", "zd-h1", "2026-11-22T10:00:00Z", "1", "360001", {})
    )
    signed = wp.zendesk_headers(zendesk)
    assert (
        service.post("/zendesk", zendesk, {**signed, "X-Zendesk-Webhook-Signature": LATIN1})[0]
        == 401
    )
    stamp = {**signed, "X-Zendesk-Webhook-Signature-Timestamp": LATIN1}
    assert service.post("/zendesk", zendesk, stamp)[0] == 401

    jira = wp.dumps(wp.jira_issue("jira:issue_created", T0 * 1000, "10009", "SUP-9"))
    hub = {"X-Hub-Signature": "sha256=" + LATIN1, "Content-Type": "application/json"}
    assert service.post("/jira", jira, hub)[0] == 401
    token = {"X-Ccpulse-Token": LATIN1, "Content-Type": "application/json"}
    assert service.post("/jira", jira, token)[0] == 401
    # and the service still serves a good request
    assert service.post("/zendesk", zendesk, wp.zendesk_headers(zendesk))[0] == 200
    rejected = {
        labels: value
        for (name, labels), value in service.metrics().items()
        if name == "ccpulse_ingest_rejected_total"
    }
    assert sum(rejected.values()) == 5


def test_a_replayed_zendesk_request_is_refused_by_the_default_window(service: Service) -> None:
    body = wp.dumps(
        wp.zendesk_event("ticket.created", "zd-old", "2026-11-22T10:00:00Z", "2", "360001", {})
    )
    old = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 301))
    status, answer = service.post("/zendesk", body, wp.zendesk_headers(body, stamp=old))
    assert (status, json.loads(answer)) == (401, {"error": "stale_timestamp"})
    recent = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    assert service.post("/zendesk", body, wp.zendesk_headers(body, stamp=recent))[0] == 200


def test_out_of_range_times_and_deep_nesting_are_dead_lettered_not_500(service: Service) -> None:
    url = service.url + "/twilio/taskrouter"
    sent: dict[str, tuple[int, dict[str, Any]]] = {}

    params = wp.taskrouter("task.created", T0, "EVX", **wp.task_fields("WTX", "Support EN"))
    params["Timestamp"] = params["TimestampMs"] = "9" * 25
    status, answer = service.post(
        "/twilio/taskrouter", wp.twilio_form(params), wp.twilio_headers(url, params)
    )
    sent["twilio-huge-epoch"] = status, json.loads(answer)

    jira = wp.jira_issue("jira:issue_created", T0 * 1000, "10010", "SUP-10")
    jira["timestamp"] = 1e300
    body = wp.dumps(jira)
    status, answer = service.post("/jira", body, wp.jira_headers(body))
    sent["jira-1e300"] = status, json.loads(answer)

    zendesk = wp.zendesk_event(
        "ticket.created", "zd-far", "2026-11-22T10:00:00Z", "3", "360001", {}
    )
    zendesk["time"] = zendesk["detail"]["updated_at"] = "9" * 25  # no datetime holds that
    body = wp.dumps(zendesk)
    status, answer = service.post("/zendesk", body, wp.zendesk_headers(body))
    sent["zendesk-huge-epoch"] = status, json.loads(answer)

    depth = 5000
    nested = b'{"type":"zen:event-type:ticket.created","x":' + b"[" * depth + b"]" * depth + b"}"
    status, answer = service.post("/zendesk", nested, wp.zendesk_headers(nested))
    sent["zendesk-nested"] = status, json.loads(answer)

    assert {name: status for name, (status, _) in sent.items()} == {
        "twilio-huge-epoch": 202,
        "jira-1e300": 202,
        "zendesk-huge-epoch": 202,
        "zendesk-nested": 202,
    }, sent
    assert "nested too deeply" in sent["zendesk-nested"][1]["deadlettered"]

    def complete(records: list[Any]) -> bool:
        return len(records) >= len(sent)

    records = read_topics(service.bootstrap, [service.topics["deadletter"]], complete)
    assert sorted(r["source"]["source"] for r in records) == [
        "jira",
        "twilio",
        "zendesk",
        "zendesk",
    ]
    assert all(r["reason_code"] == "unmappable" and r["reason"] for r in records)
    dead_nested = next(r for r in records if "nested" in r["reason"])
    assert dead_nested["original_text"].encode() == nested


def test_a_body_over_the_limit_gets_413(service: Service) -> None:
    big = b'{"pad":"' + b"x" * (64 * 1024) + b'"}'
    for path in ("/zendesk", "/jira", "/twilio/taskrouter"):
        assert service.post(path, big, {"Content-Type": "application/json"})[0] == 413, path
    small = wp.dumps(
        wp.zendesk_event("ticket.created", "zd-s", "2026-11-22T10:00:00Z", "4", "360001", {})
    )
    assert service.post("/zendesk", small, wp.zendesk_headers(small))[0] == 200


def test_an_event_kafka_refuses_is_dead_lettered_and_the_next_ones_flow(
    tmp_path: Path, topic_prefix: str, broker: Broker
) -> None:
    svc = start_service(
        tmp_path, topic_prefix, broker.bootstrap, broker, max_body_bytes=4 * 1024 * 1024
    )
    try:
        huge = wp.zendesk_event(
            "ticket.created", "zd-huge", "2026-11-22T10:00:00Z", "7", "360001", {}
        )
        huge["detail"]["requester_id"] = "r" * 1_200_000  # the event is over the producer limit
        body = wp.dumps(huge)
        assert svc.post("/zendesk", body, wp.zendesk_headers(body))[0] == 200
        after = wp.dumps(
            wp.zendesk_event(
                "ticket.created", "zd-after", "2026-11-22T10:00:00Z", "8", "360001", {}
            )
        )
        assert svc.post("/zendesk", after, wp.zendesk_headers(after))[0] == 200

        def complete(records: list[Any]) -> bool:
            ids = {r.get("id") for r in records}
            return "zd-zd-after" in ids and any("reason_code" in r for r in records)

        topics = [svc.topics["ticketing"], svc.topics["deadletter"]]
        records = read_topics(svc.bootstrap, topics, complete)
        assert "zd-zd-after" in {r.get("id") for r in records}
        (dead,) = [r for r in records if "reason_code" in r]
        assert dead["reason_code"] == "too_large"
        assert dead["source"] == {
            "source": "zendesk",
            "id": "zd-zd-huge",
            "refused": True,
            "topic": svc.topics["ticketing"],
        }
        assert dead["original_size"] > 1_200_000 and dead["original_truncated"] is True
        assert kept_text(dead).startswith('{"type":"ticket.created","ticket_id":"7"')
        metrics = svc.metrics()
        key = (
            "ccpulse_ingest_deadlettered_total",
            (("reason", "too_large"), ("source", "zendesk")),
        )
        assert metrics[key] == 1.0
        events = ("ccpulse_ingest_events_total", (("source", "zendesk"),))
        assert metrics[events] == 1.0  # zd-after only
    finally:
        assert svc.proc.stop() == 0, svc.proc.log()


def kept_text(record: dict[str, Any]) -> str:
    if "original_text" in record:
        return str(record["original_text"])
    return base64.b64decode(record["original_base64"]).decode("utf-8", "replace")
