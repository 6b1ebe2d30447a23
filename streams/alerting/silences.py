"""Cluster-wide silences and acknowledgements: records on the compacted ``ccpulse.silences``.

A silence or an acknowledgement posted to any worker is written here before the API answers;
every worker (and the notifier) reads the whole topic from its beginning at start and then
follows it, so a silence takes effect everywhere within a fetch (about a second) and survives a
restart of every worker: the topic is compacted, the latest record per key is kept for ever.

Keys and values (JSON):

* ``silence/<id>`` -> :class:`processors.alerts.Silence` (times in the engine's seconds);
* ``ack/<fingerprint>`` -> :class:`Ack` (who acknowledged which firing alert, when);
* ``alert/<fingerprint>`` -> the pending or firing alert as its owner last described it (rule,
  queue, state, severity, since, summary, acknowledged_by, silenced, worker), so that every
  worker lists the same alerts (``ccpulse alerts list``); tombstoned when it resolves.

A null value (a tombstone) removes the key: every reader forgets it, and compaction drops it.
Expired silences are tombstoned by :meth:`SilenceLog.sweep`, which every reader runs every
``SWEEP_SECONDS`` (several workers tombstoning one key is harmless); an acknowledgement is
tombstoned by the worker that owns the alert when it resolves, or after ``ACK_MAX_AGE_SECONDS``
when no alert of that fingerprint ever fired.

aiokafka, as the worker's Faust does: one consumer outside any group (``assign`` + seek to the
beginning: each reader needs every record, not a share of them) and one producer with
``acks=all``, so a write the API reported done is on every in-sync replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import aiokafka
import msgspec
from aiokafka import TopicPartition

from processors.alerts import Silence
from streams.broker.settings import aiokafka_kwargs, kafka_python_kwargs
from streams.config import KafkaConfig
from streams.logs import log

__all__ = ["ACK_MAX_AGE_SECONDS", "Ack", "SilenceLog", "ack_key", "alert_key", "silence_key"]

logger = logging.getLogger("ccpulse.alerts")

SWEEP_SECONDS = 5.0
"""How often expired silences (and stale acknowledgements) are tombstoned."""
ACK_MAX_AGE_SECONDS = 7 * 86400.0
"""An acknowledgement no firing alert claimed (e.g. of a fingerprint that never fired) is
tombstoned after this long, so the topic does not keep it for ever."""
_FETCH_MS = 500


class Ack(msgspec.Struct, frozen=True, kw_only=True):
    """A person acknowledged the firing alert ``fingerprint``."""

    fingerprint: str
    by: str
    at: float
    comment: str = ""


def silence_key(silence_id: str) -> bytes:
    return f"silence/{silence_id}".encode()


def ack_key(fingerprint: str) -> bytes:
    return f"ack/{fingerprint}".encode()


def alert_key(fingerprint: str) -> bytes:
    return f"alert/{fingerprint}".encode()


_T = TypeVar("_T")


def _update(
    table: dict[str, _T],
    name: str,
    item: _T | None,
    listeners: list[Callable[[str, _T | None], None]],
) -> None:
    """Keep ``table[name]`` in step with one record and tell ``listeners`` of a change (a
    repeat of what is known, or the tombstone of what is not, is no change)."""
    if item is None:
        if table.pop(name, None) is None:
            return
    elif table.get(name) == item:
        return
    else:
        table[name] = item
    for listener in listeners:
        listener(name, item)


SilenceListener = Callable[[str, Silence | None], None]
"""``(silence id, silence or None when removed)``."""
AckListener = Callable[[str, Ack | None], None]
"""``(fingerprint, acknowledgement or None when removed)``."""


class SilenceLog:
    """The cluster's silences and acknowledgements, kept in step with the topic."""

    def __init__(self, kafka: KafkaConfig, topic: str, replication_factor: int = 1) -> None:
        self.kafka = kafka
        self.topic = topic
        self.replication_factor = replication_factor
        self.silences: dict[str, Silence] = {}
        self.acks: dict[str, Ack] = {}
        self.alerts: dict[str, dict[str, Any]] = {}
        """The cluster's pending and firing alerts, by fingerprint, as their owners wrote them."""
        self.on_silence: list[SilenceListener] = []
        self.on_ack: list[AckListener] = []
        self.ready = asyncio.Event()
        """Set once the topic was read up to its end as of start."""
        self._consumer: Any = None
        self._producer: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._pending: set[asyncio.Task[None]] = set()

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Create the topic if needed, read it to its end, then follow it in the background."""
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, self._ensure_topic)
        except Exception as exc:  # e.g. no right to create topics: it may exist already
            log(logger, "silences topic not created", logging.WARNING, topic=self.topic, error=exc)
        client = aiokafka_kwargs(self.kafka)
        self._producer = aiokafka.AIOKafkaProducer(acks="all", **client)
        await self._producer.start()
        self._consumer = aiokafka.AIOKafkaConsumer(
            group_id=None, enable_auto_commit=False, fetch_max_wait_ms=_FETCH_MS, **client
        )
        await self._consumer.start()
        await self._consumer.topics()  # fetches the metadata of the topic just created
        partitions = self._consumer.partitions_for_topic(self.topic) or {0}
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        self._consumer.assign(tps)
        await self._consumer.seek_to_beginning(*tps)
        ends = await self._consumer.end_offsets(tps)
        self._tasks = [
            asyncio.create_task(self._follow(ends), name="ccpulse-silences-reader"),
            asyncio.create_task(self._sweep_loop(), name="ccpulse-silences-sweep"),
        ]

    def _ensure_topic(self) -> None:
        from streams.broker.topics import COMPACTED, TopicSpec, ensure_topics

        spec = TopicSpec(self.topic, 1, self.replication_factor, COMPACTED)
        client = kafka_python_kwargs(self.kafka)
        ensure_topics(client.pop("bootstrap_servers"), [spec], **client)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._pending, return_exceptions=True)
        for client in (self._consumer, self._producer):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.stop()

    # -- writing ----------------------------------------------------------------------------

    async def put_silence(self, silence: Silence) -> None:
        """Write ``silence`` (and apply it here at once, before the topic echoes it)."""
        await self._write(silence_key(silence.id), msgspec.json.encode(silence))
        self._apply(silence_key(silence.id), msgspec.json.encode(silence))

    async def put_ack(self, ack: Ack) -> None:
        await self._write(ack_key(ack.fingerprint), msgspec.json.encode(ack))
        self._apply(ack_key(ack.fingerprint), msgspec.json.encode(ack))

    async def remove(self, key: bytes) -> None:
        """Tombstone ``key``."""
        await self._write(key, None)
        self._apply(key, None)

    async def expire(self, silence_id: str) -> None:
        """End a silence now (``DELETE /api/silences/{id}``): its tombstone, as at its end."""
        await self.remove(silence_key(silence_id))

    def remove_soon(self, key: bytes) -> None:
        """Tombstone ``key`` without waiting (from synchronous code in the event loop)."""
        self._soon(key, None)

    def put_alert_soon(self, fingerprint: str, description: dict[str, Any] | None) -> None:
        """Write (or with None, tombstone) the cluster's view of one alert, without waiting."""
        key = alert_key(fingerprint)
        if description is None:
            if fingerprint in self.alerts:
                self._soon(key, None)
        elif self.alerts.get(fingerprint) != description:
            self._soon(key, msgspec.json.encode(description))

    def _soon(self, key: bytes, value: bytes | None) -> None:
        if self._producer is None:
            return  # not started (a unit test, or shutting down): the owner writes it again
        self._apply(key, value)
        task = asyncio.get_running_loop().create_task(self._write_logged(key, value))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _write_logged(self, key: bytes, value: bytes | None) -> None:
        try:
            await self._write(key, value)
        except Exception as exc:  # the next sweep (or owner) tries again
            log(logger, "silences record not written", logging.WARNING, key=key, error=exc)

    async def _write(self, key: bytes, value: bytes | None) -> None:
        if self._producer is None:
            raise RuntimeError("the silences log is not started")
        await self._producer.send_and_wait(self.topic, key=key, value=value)

    # -- reading ----------------------------------------------------------------------------

    async def _follow(self, ends: dict[Any, int]) -> None:
        consumer = self._consumer
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=_FETCH_MS)
                for records in batches.values():
                    for record in records:
                        self._apply(record.key, record.value)
                if not self.ready.is_set():
                    positions = {tp: await consumer.position(tp) for tp in ends}
                    if all(positions[tp] >= end for tp, end in ends.items()):
                        self.ready.set()
                        log(
                            logger,
                            "cluster silences loaded",
                            silences=len(self.silences),
                            acks=len(self.acks),
                        )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker is away: the client reconnects
                log(logger, "silences topic read failed", logging.WARNING, error=exc)
                await asyncio.sleep(1.0)

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        """One record: a silence, an acknowledgement or a tombstone of either. A record that
        cannot be read is logged and skipped (it never stops the reader)."""
        if not key:
            return
        kind, _, name = key.decode(errors="replace").partition("/")
        try:
            if kind == "silence":
                silence = None if value is None else msgspec.json.decode(value, type=Silence)
                _update(self.silences, name, silence, self.on_silence)
            elif kind == "alert":
                if value is None:
                    self.alerts.pop(name, None)
                else:
                    self.alerts[name] = msgspec.json.decode(value)
            elif kind == "ack":
                ack = None if value is None else msgspec.json.decode(value, type=Ack)
                _update(self.acks, name, ack, self.on_ack)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            log(logger, "unreadable silences record skipped", logging.WARNING, key=key, error=exc)
        except Exception:
            logger.exception("silences record not applied", extra={"kv": {"key": key}})

    # -- expiry -----------------------------------------------------------------------------

    def expired(self, now: float) -> list[bytes]:
        """Keys to tombstone at ``now``: ended silences and unclaimed old acknowledgements."""
        keys = [silence_key(i) for i, s in self.silences.items() if s.ends_at <= now]
        keys += [ack_key(f) for f, a in self.acks.items() if a.at + ACK_MAX_AGE_SECONDS <= now]
        return keys

    async def sweep(self, now: float | None = None) -> int:
        """Tombstone what :meth:`expired` names; returns how many."""
        keys = self.expired(time.time() if now is None else now)
        for key in keys:
            await self.remove(key)
            log(logger, "expired silence removed", key=key.decode())
        return len(keys)

    async def _sweep_loop(self) -> None:
        await self.ready.wait()
        while True:
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log(logger, "silence sweep failed", logging.WARNING, error=exc)
            await asyncio.sleep(SWEEP_SECONDS)
