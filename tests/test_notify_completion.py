"""What the delivery log commits on: ``submit(n, done)`` calls ``done`` only once every receiver
accepted the notification or gave it up, a failure is handed to ``on_failed`` (the dead-letter
record), and the idempotency key is the transition's id. Real HTTP receivers on 127.0.0.1; the
silences log's bookkeeping (records, tombstones, expiry) without a broker."""

from __future__ import annotations

from typing import Any

import msgspec

from processors.alerts import Silence
from streams.alerting.silences import ACK_MAX_AGE_SECONDS, Ack, SilenceLog, ack_key, silence_key
from streams.config import KafkaConfig
from tests.test_notify_dispatch import ALERT, FAST, HookServer, make, run, until

TRANSITION = msgspec.structs.replace(ALERT, id="5e1f0c2a9b7d3e4f6a8b")


def test_done_waits_for_every_receiver_and_failures_are_reported() -> None:
    async def main() -> None:
        # Fails twice, then holds its answer 3 s: the refusal comes while it is still open.
        slow = await HookServer(fail_first=2, stall_first=3, stall=3.0).start()
        refusing = await HookServer(fail_first=99, fail_status=400).start()
        d, sample = make(
            {
                "receivers": {
                    "slow": {"kind": "webhook", "url": slow.url, **FAST},
                    "refusing": {"kind": "webhook", "url": refusing.url, **FAST},
                },
                "default_receivers": ["slow", "refusing"],
            }
        )
        failed: list[tuple[str, str, str]] = []
        d.on_failed = lambda receiver, n, kind, reason, error: failed.append(
            (receiver, n.id, reason)
        )
        finished: list[str] = []
        await d.start()
        d.submit(TRANSITION, lambda: finished.append("done"))
        await until(lambda: len(failed) == 1)
        assert failed == [("refusing", TRANSITION.id, "rejected")]
        assert finished == []  # the slow receiver has not answered yet
        await until(lambda: finished == ["done"])
        assert len(slow.accepted()) == 1
        assert [r["status"] for r in slow.requests] == [503, 503, 200]
        # The idempotency key is the transition's id: in the body and the header, every attempt.
        assert {r["body"]["id"] for r in slow.requests} == {TRANSITION.id}
        assert {r["headers"]["Idempotency-Key"] for r in slow.requests} == {TRANSITION.id}
        assert sample("ccpulse_alert_notifications_pending", receiver="slow") == 0
        await d.close()
        await slow.stop()
        await refusing.stop()

    run(main())


def test_done_is_not_called_while_a_receiver_is_down_nor_at_shutdown() -> None:
    async def main() -> None:
        down = HookServer()  # never started: connection refused
        d, sample = make(
            {
                "receivers": {"down": {"kind": "webhook", "url": down.url, **FAST}},
                "default_receivers": ["down"],
            }
        )
        finished: list[str] = []
        await d.start()
        d.submit(TRANSITION, lambda: finished.append("done"))
        await until(
            lambda: (sample("ccpulse_alert_notification_failures_total", receiver="down") or 0) >= 3
        )
        assert finished == []
        assert sample("ccpulse_alert_notifications_pending", receiver="down") == 1
        await d.close(timeout=0.1)
        assert finished == []  # left uncommitted: the group's next member delivers it

    run(main())


def test_a_notification_going_nowhere_is_done_at_once() -> None:
    d, _ = make({})
    finished: list[str] = []
    d.submit(TRANSITION, lambda: finished.append("done"))
    assert finished == ["done"]


def silence(ident: str, ends_at: float) -> Silence:
    return Silence(
        id=ident, rule="*", queue="billing", starts_at=0.0, ends_at=ends_at, created_by="ana"
    )


def test_silence_records_tombstones_and_expiry() -> None:
    book = SilenceLog(KafkaConfig(), "t.silences")
    seen: list[tuple[str, Any]] = []
    book.on_silence.append(lambda i, s: seen.append((i, s)))
    book.on_ack.append(lambda f, a: seen.append((f, a)))
    short, long = silence("s1", 100.0), silence("s2", 10_000.0)
    book._apply(silence_key("s1"), msgspec.json.encode(short))
    book._apply(silence_key("s1"), msgspec.json.encode(short))  # a repeat changes nothing
    book._apply(silence_key("s2"), msgspec.json.encode(long))
    ack = Ack(fingerprint="f1", by="bob", at=50.0)
    book._apply(ack_key("f1"), msgspec.json.encode(ack))
    book._apply(b"silence/bad", b"{not json")  # skipped, logged
    assert seen == [("s1", short), ("s2", long), ("f1", ack)]
    assert book.expired(99.0) == []
    assert book.expired(100.0) == [silence_key("s1")]
    assert book.expired(50.0 + ACK_MAX_AGE_SECONDS) == [
        silence_key("s1"),
        silence_key("s2"),
        ack_key("f1"),
    ]
    book._apply(silence_key("s1"), None)  # the tombstone
    book._apply(silence_key("s1"), None)  # again: nothing left to remove
    assert list(book.silences) == ["s2"] and seen[-1] == ("s1", None)
    assert len(seen) == 4
