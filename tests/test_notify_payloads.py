"""Unit tests: what each receiver kind is sent, the backoff, and the dispatcher's queueing rules
(routing, overflow, escalation, resolution) without any network."""

from __future__ import annotations

import asyncio
import email
import re

import msgspec
import pytest
from prometheus_client import CollectorRegistry

from streams.alerting import (
    AlertmanagerReceiver,
    Dispatcher,
    EmailReceiver,
    Notification,
    NotifyConfig,
    Route,
    SlackReceiver,
    WebhookReceiver,
)
from streams.alerting.delivery_queue import Item, backoff_delay
from streams.alerting.notification import format_time
from streams.alerting.payloads import (
    alertmanager_payload,
    email_message,
    slack_payload,
    webhook_payload,
)

STARTS = 1_700_000_000.25  # 2023-11-14T22:13:20.250Z

FIRING = Notification(
    fingerprint="abandon_rate_high/billing",
    id="0f1e2d3c4b5a69788796",
    rule="abandon_rate_high",
    queue="billing",
    severity="critical",
    status="firing",
    summary="Abandonment on billing is 14 % over 15m (threshold 10 %)",
    description="Callers hang up before an agent answers.",
    runbook_url="https://runbooks.example.com/abandonment",
    value=0.14,
    threshold=0.1,
    starts_at=STARTS,
    labels={"kpi": "abandon_rate", "window": "15m"},
)
RESOLVED = msgspec.structs.replace(FIRING, status="resolved", ends_at=STARTS + 600, value=0.05)

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_format_time_is_rfc3339_utc_with_millis() -> None:
    assert format_time(STARTS) == "2023-11-14T22:13:20.250Z"
    assert format_time(1.9996) == "1970-01-01T00:00:02.000Z"
    assert format_time(None) == ""


def test_webhook_payload_shape() -> None:
    body = webhook_payload(FIRING, "firing", "key-1", STARTS + 1)
    assert body == {
        "version": "1",
        "id": "key-1",
        "transition_id": "0f1e2d3c4b5a69788796",
        "kind": "firing",
        "status": "firing",
        "fingerprint": "abandon_rate_high/billing",
        "rule": "abandon_rate_high",
        "queue": "billing",
        "severity": "critical",
        "summary": FIRING.summary,
        "description": FIRING.description,
        "runbook_url": FIRING.runbook_url,
        "value": 0.14,
        "threshold": 0.1,
        "starts_at": "2023-11-14T22:13:20.250Z",
        "ends_at": None,
        "labels": {
            "alertname": "abandon_rate_high",
            "queue": "billing",
            "severity": "critical",
            "kpi": "abandon_rate",
            "window": "15m",
        },
        "sent_at": "2023-11-14T22:13:21.250Z",
    }
    resolved = webhook_payload(RESOLVED, "resolved", "key-2", STARTS + 601)
    assert (resolved["status"], resolved["kind"]) == ("resolved", "resolved")
    assert resolved["ends_at"] == "2023-11-14T22:23:20.250Z"
    # JSON-serialisable as is
    assert msgspec.json.decode(msgspec.json.encode(body)) == body


def test_slack_payload_has_text_and_valid_blocks() -> None:
    receiver = SlackReceiver(url="https://hooks.example.com/x", channel="#ops", username="ccpulse")
    tricky = msgspec.structs.replace(FIRING, summary="Queue <billing> & co", queue="a<b>")
    body = slack_payload(tricky, "firing", receiver)
    assert body["text"] == "[FIRING:critical] Queue &lt;billing&gt; &amp; co"  # mrkdwn too
    assert body["channel"] == "#ops" and body["username"] == "ccpulse"
    kinds = [block["type"] for block in body["blocks"]]
    assert kinds == ["header", "section", "section", "context"]
    header = body["blocks"][0]["text"]
    assert header["type"] == "plain_text" and len(header["text"]) <= 150
    assert header["text"] == "[FIRING:critical] Queue <billing> & co"  # plain text: as typed
    summary = body["blocks"][1]["text"]
    assert summary["type"] == "mrkdwn"
    assert "Queue &lt;billing&gt; &amp; co" in summary["text"]  # mrkdwn escaped
    fields = body["blocks"][2]["fields"]
    assert 1 <= len(fields) <= 10
    assert {"type": "mrkdwn", "text": "*Queue*\na&lt;b&gt;"} in fields
    assert {"type": "mrkdwn", "text": "*Threshold*\n0.1"} in fields
    context = body["blocks"][3]["elements"][0]["text"]
    assert context.startswith("<https://runbooks.example.com/abandonment|Runbook>")
    resolved = slack_payload(RESOLVED, "resolved", SlackReceiver(url="https://h/x"))
    assert resolved["text"].startswith("[RESOLVED] ")
    assert "channel" not in resolved


def test_slack_text_cannot_ping_or_link() -> None:
    hostile = msgspec.structs.replace(
        FIRING,
        summary="<!channel> see <https://evil.example|here>",
        runbook_url="https://r/?a=1&b=<2>",
    )
    body = slack_payload(hostile, "firing", SlackReceiver(url="https://h/x"))
    mrkdwn = [body["text"], body["blocks"][1]["text"]["text"]]
    mrkdwn += [f["text"] for f in body["blocks"][2]["fields"]]
    context = body["blocks"][3]["elements"][0]["text"]
    assert all("<!channel>" not in text and "<https://evil" not in text for text in mrkdwn)
    assert "&lt;!channel&gt;" in body["text"]
    assert context.startswith("<https://r/?a=1&amp;b=&lt;2&gt;|Runbook>")


def test_slack_header_is_cut_to_slack_limit() -> None:
    long = msgspec.structs.replace(FIRING, summary="x" * 400)
    body = slack_payload(long, "repeat", SlackReceiver(url="https://h/x"))
    assert len(body["blocks"][0]["text"]["text"]) == 150
    assert body["blocks"][0]["text"]["text"].startswith("[STILL FIRING:critical] xxx")


def test_alertmanager_payload_is_a_postable_alerts_list() -> None:
    receiver = AlertmanagerReceiver(
        url="http://am:9093", resend_interval_seconds=60, generator_url="http://w:6066/api/kpis"
    )
    now = STARTS + 30
    body = alertmanager_payload(FIRING, receiver, now)
    assert isinstance(body, list) and len(body) == 1
    alert = body[0]
    assert set(alert) == {"labels", "annotations", "startsAt", "endsAt", "generatorURL"}
    assert alert["labels"] == {
        "alertname": "abandon_rate_high",
        "queue": "billing",
        "severity": "critical",
        "kpi": "abandon_rate",
        "window": "15m",
    }
    assert alert["annotations"] == {
        "summary": FIRING.summary,
        "description": FIRING.description,
        "runbook_url": FIRING.runbook_url,
        "value": "0.14",
        "threshold": "0.1",
        "fingerprint": FIRING.fingerprint,
        "transition_id": FIRING.id,
    }
    assert all(isinstance(v, str) for v in alert["annotations"].values())
    assert alert["startsAt"] == "2023-11-14T22:13:20.250Z"
    # firing: endsAt four resend intervals ahead, so Alertmanager keeps it active meanwhile
    assert alert["endsAt"] == format_time(now + 240)
    assert alert["generatorURL"] == "http://w:6066/api/kpis"
    ended = alertmanager_payload(RESOLVED, receiver, STARTS + 700)[0]
    assert ended["endsAt"] == format_time(RESOLVED.ends_at)


def test_alertmanager_labels_are_made_valid() -> None:
    odd = msgspec.structs.replace(FIRING, labels={"team-name": "billing ops", "empty": ""})
    receiver = AlertmanagerReceiver(url="http://am:9093")
    alert = alertmanager_payload(odd, receiver, STARTS)[0]
    assert alert["labels"]["team_name"] == "billing ops"
    assert "empty" not in alert["labels"]
    assert "generatorURL" not in alert
    assert all(RFC3339.match(alert[k]) for k in ("startsAt", "endsAt"))


def test_email_threads_an_alert_and_says_what_matters() -> None:
    receiver = EmailReceiver(host="smtp", from_="ccpulse@example.com", to=["a@x.com", "b@x.com"])
    first = email_message(FIRING, "firing", "k1", receiver, STARTS)
    last = email_message(RESOLVED, "resolved", "k2", receiver, STARTS + 600)
    assert first["Subject"] == "[FIRING:critical] " + FIRING.summary
    assert first["To"] == "a@x.com, b@x.com"
    assert last["Subject"].startswith("[RESOLVED] ")
    assert last["In-Reply-To"] == first["Message-ID"]
    parsed = email.message_from_string(first.as_string())
    text = parsed.get_payload(decode=True).decode()
    assert "Queue:      billing" in text
    assert "Threshold:  0.1" in text
    assert "Runbook:    https://runbooks.example.com/abandonment" in text


def test_backoff_grows_exponentially_with_bounded_jitter() -> None:
    lows = [backoff_delay(a, 1.0, 60.0, 0.0) for a in range(1, 9)]
    highs = [backoff_delay(a, 1.0, 60.0, 0.999999) for a in range(1, 9)]
    assert lows == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert [round(h, 3) for h in highs] == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]


# -- dispatcher queueing, no network (nothing is started) ---------------------------------


def dispatcher(**notify: object) -> tuple[Dispatcher, CollectorRegistry]:
    registry = CollectorRegistry()
    config = msgspec.convert(notify, NotifyConfig)
    return Dispatcher(config, registry), registry


def queued(d: Dispatcher, receiver: str) -> list[tuple[str, str]]:
    return [(i.kind, i.notification.fingerprint) for i in d._channels[receiver].queue]


def firing(queue: str, severity: str = "warning") -> Notification:
    return msgspec.structs.replace(FIRING, fingerprint=f"r/{queue}", queue=queue, severity=severity)


HOOK = {"kind": "webhook", "url": "http://127.0.0.1:9/hook"}


def test_submit_routes_and_never_raises_on_garbage() -> None:
    d, registry = dispatcher(
        receivers={"a": HOOK, "b": HOOK},
        routes=[{"queues": ["billing"], "receivers": ["a"]}],
        default_receivers=["b"],
    )
    d.submit(firing("billing"))
    d.submit(firing("sales"))
    d.submit(None)  # type: ignore[arg-type]  # a caller bug: logged, not raised
    assert queued(d, "a") == [("firing", "r/billing")]
    assert queued(d, "b") == [("firing", "r/sales")]
    pending = "ccpulse_alert_notifications_pending"
    assert registry.get_sample_value(pending, {"receiver": "a"}) == 1
    assert registry.get_sample_value(pending, {"receiver": "b"}) == 1


def test_no_receivers_means_logged_only(caplog: pytest.LogCaptureFixture) -> None:
    d, registry = dispatcher()
    with caplog.at_level("INFO", logger="ccpulse.alerting"):
        d.submit(firing("billing"))
    record = next(r for r in caplog.records if r.getMessage() == "alert notification")
    assert record.kv["receivers"] == "none (logged only)"  # type: ignore[attr-defined]
    assert record.kv["queue"] == "billing"  # type: ignore[attr-defined]
    assert registry.get_sample_value("ccpulse_alert_notifications_pending") is None  # no receiver


def test_duplicate_firing_is_not_sent_twice_but_escalation_is() -> None:
    d, _ = dispatcher(
        receivers={"hook": HOOK, "am": {"kind": "alertmanager", "url": "http://127.0.0.1:9"}},
        default_receivers=["hook", "am"],
    )
    d.submit(firing("billing", "warning"))
    d.submit(firing("billing", "warning"))
    assert queued(d, "hook") == [("firing", "r/billing")]
    d.submit(firing("billing", "critical"))
    assert queued(d, "hook") == [("firing", "r/billing")] * 2
    # Alertmanager identifies alerts by labels (severity included): the warning one is ended
    am = [(i.kind, i.notification.severity) for i in d._channels["am"].queue]
    assert am == [("firing", "warning"), ("resolved", "warning"), ("firing", "critical")]


def test_resolved_goes_to_every_receiver_that_heard_of_the_alert() -> None:
    d, _ = dispatcher(
        receivers={"warn": HOOK, "crit": HOOK},
        routes=[
            {"severities": ["warning"], "receivers": ["warn"]},
            {"severities": ["critical"], "receivers": ["crit"]},
        ],
    )
    d.submit(firing("billing", "warning"))
    d.submit(firing("billing", "critical"))
    assert set(d._firing["r/billing"].due) == {"crit"}  # repeats follow the current route
    resolved = msgspec.structs.replace(
        firing("billing", "critical"), status="resolved", ends_at=STARTS + 60
    )
    d.submit(resolved)
    assert queued(d, "crit") == [("firing", "r/billing"), ("resolved", "r/billing")]
    assert queued(d, "warn") == [("firing", "r/billing"), ("resolved", "r/billing")]


def test_send_resolved_false_still_ends_alerts_in_alertmanager() -> None:
    d, _ = dispatcher(
        receivers={"hook": HOOK, "am": {"kind": "alertmanager", "url": "http://127.0.0.1:9"}},
        default_receivers=["hook", "am"],
        send_resolved=False,
    )
    d.submit(firing("billing"))
    d.submit(msgspec.structs.replace(firing("billing"), status="resolved", ends_at=STARTS + 1))
    assert queued(d, "hook") == [("firing", "r/billing")]
    assert queued(d, "am") == [("firing", "r/billing"), ("resolved", "r/billing")]


def test_overflow_drops_repeats_first_then_oldest_and_counts() -> None:
    d, registry = dispatcher(
        receivers={"hook": {**HOOK, "queue_size": 3}}, default_receivers=["hook"]
    )
    channel = d._channels["hook"]
    d.submit(firing("q1"))
    # a repeat as the scheduler would queue it
    d._enqueue("hook", Item(firing("q1"), "repeat", "r1"))
    d.submit(firing("q2"))
    d.submit(firing("q3"))  # full: the repeat goes first
    assert queued(d, "hook") == [("firing", "r/q1"), ("firing", "r/q2"), ("firing", "r/q3")]
    d._enqueue("hook", Item(firing("q1"), "repeat", "r2"))  # a new repeat never displaces
    assert [i.kind for i in channel.queue] == ["firing"] * 3
    d.submit(firing("q4"))  # nothing but first notifications left: the oldest goes
    assert queued(d, "hook") == [("firing", "r/q2"), ("firing", "r/q3"), ("firing", "r/q4")]
    sample = registry.get_sample_value
    labels = {"receiver": "hook"}
    assert (
        sample("ccpulse_alert_notifications_dropped_total", {**labels, "reason": "overflow_repeat"})
        == 2
    )
    assert (
        sample("ccpulse_alert_notifications_dropped_total", {**labels, "reason": "overflow"}) == 1
    )


def test_close_counts_what_could_not_be_delivered() -> None:
    d, registry = dispatcher(receivers={"hook": HOOK}, default_receivers=["hook"])
    d.submit(firing("billing"))
    asyncio.run(d.close(timeout=0))
    assert (
        registry.get_sample_value(
            "ccpulse_alert_notifications_dropped_total", {"receiver": "hook", "reason": "shutdown"}
        )
        == 1
    )


def test_route_struct_defaults_match_everything() -> None:
    route = Route(receivers=["x"])
    assert route.matches(firing("anything", "critical"))
    assert route.matches(firing("anything", "warning"))
    assert not Route(receivers=["x"], severities=["critical"]).matches(firing("q", "warning"))
    assert WebhookReceiver(url="http://x").max_retries is None


def test_every_dispatcher_metric_is_in_the_catalog() -> None:
    from streams.views.metrics_catalog import metric_names

    d, registry = dispatcher(receivers={"hook": HOOK}, default_receivers=["hook"])
    d.submit(firing("q1"))
    asyncio.run(d.close(timeout=0))  # so the dropped counter has a sample too
    exported = {s.name for family in registry.collect() for s in family.samples}
    assert "ccpulse_alert_notifications_dropped_total" in exported
    assert exported <= metric_names()
