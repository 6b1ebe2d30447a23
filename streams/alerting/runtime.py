"""Alerts inside the worker: evaluate the rules, publish transitions, notify, persist, restore.

Every ``alerts.evaluate_interval_seconds`` (1 s) a timer evaluates the configured rules
(processors/alert_rules.py) on the snapshots of the queues this worker owns with the pure
:class:`processors.alerts.AlertEvaluator`, then for each transition:

* publishes it as JSON on the alerts topic (``ccpulse.alerts``), keyed by the alert's
  fingerprint, so the whole history of every alert is on Kafka;
* publishes firing / escalated / resolved alerts as ``notification`` records on the same topic,
  unless the alert is silenced; a silenced alert that is still firing when its silence ends is
  notified then; a resolution is only sent for an alert whose firing was. The consumer group
  of :mod:`streams.alerting.delivery_log` delivers them (docs/alerts.md, "Where notifications
  are delivered"), so a page survives the death of the worker that decided it;
* writes the queue's alert state to the queue-state changelog table under
  ``{partition}/{queue}/a``, next to the queue's KPI state, so it moves with the queue.

After a restart or a rebalance, table recovery restores those records before anything is
evaluated: an alert that was pending carries on pending from its original start, and one that
was firing is published with ``track()`` (repeats continue, nobody is paged a second time).
Silences and acknowledgements are the cluster's (streams/alerting/silences.py): read from the
compacted silences topic, applied to the owned alerts whenever one arrives and after every
restore, and nothing is evaluated before that topic has been read to its end.
``ccpulse_alert_firing{rule,queue,severity}`` is read from the evaluator at
scrape time, so a queue handed to another worker stops being exported here at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import msgspec
from prometheus_client import CollectorRegistry

from processors.alert_rules import AlertRule
from processors.alerts import (
    AlertEvaluator,
    AlertState,
    AlertTransition,
    decode_alert_states,
    encode_alert_states,
)
from streams.alerting.acks_and_silences import AcksAndSilences
from streams.alerting.alert_documents import (
    SHARED,
    alert_key,
    describe,
    iso,
    notification,
    parse_alert_key,
)
from streams.alerting.alert_metrics import (
    EVALUATION_ERRORS,
    HELD,
    TRANSITIONS,
    AlertCollector,
)
from streams.alerting.delivery_log import NotificationPublisher
from streams.alerting.dispatch import Dispatcher
from streams.alerting.silences import Silence, SilenceLog, ack_key
from streams.give_way import give_way
from streams.logs import log
from streams.worker.runtime import WorkerRuntime

__all__ = ["ALERT_SLICE_SECONDS", "AlertRuntime", "alert_key"]

logger = logging.getLogger("ccpulse.alerts")

ALERT_SLICE_SECONDS = 0.005
"""Longest stretch of rule evaluation before the event loop is given back."""

_json = msgspec.json.Encoder()


class AlertRuntime(AcksAndSilences):
    """The worker's alerting: ``runtime.alerts``. All methods run in the event loop's thread."""

    def __init__(
        self,
        runtime: WorkerRuntime,
        table: Any,
        topic: Any,
        dispatcher: Dispatcher | NotificationPublisher | None,
        registry: CollectorRegistry,
        silence_log: SilenceLog | None = None,
    ) -> None:
        config = runtime.config
        self.runtime = runtime
        self.table = table
        self.topic = topic
        self.dispatcher = dispatcher
        self.silence_log = silence_log
        self._sending: dict[str, list[asyncio.Future[Any]]] = {}
        """Per queue, the notification records of this evaluation not yet acknowledged."""
        self._resolving: set[str] = set()
        """Queues of this evaluation with a resolution record on its way."""
        self._unsent: dict[str, asyncio.Future[Any]] = {}
        """Alerts (by fingerprint) whose firing record Kafka has not acknowledged yet:
        persisted as not notified until it has."""
        if silence_log is not None:
            silence_log.on_silence.append(self.silence_changed)
            silence_log.on_ack.append(self.ack_changed)
        self.worker = config.worker.app_id
        self.evaluator = AlertEvaluator(config.alerts.effective_rules())
        self.ready = False
        """True once this worker's alert state has been restored from the table."""
        self.partition_of: dict[str, int] = {}
        registry.register(AlertCollector(self.evaluator))
        self.last_evaluation: float | None = None
        """Engine time of the last evaluation (shown by GET /api/alerts)."""
        self.hold_while_behind = config.alerts.hold_while_behind_events
        self.held_behind: int | None = None
        """Events the worker was behind when evaluation was last held; None: not held."""
        self.held = HELD.gauge(registry)
        self.errors = EVALUATION_ERRORS.counter(registry)
        self.transitions = TRANSITIONS.counter(registry)

    # -- reading ----------------------------------------------------------------------------

    def firing(self) -> list[dict[str, Any]]:
        """Firing alerts of the owned queues, as JSON-ready dicts."""
        return [self._describe(rule, alert) for rule, alert in self.evaluator.firing()]

    def active(self) -> list[dict[str, Any]]:
        """Pending and firing alerts."""
        return [self._describe(rule, alert) for rule, alert in self.evaluator.active()]

    def silences(self) -> list[Silence]:
        """The silences in force: the cluster's (the same on every worker) when they are kept
        on the silences topic."""
        if self.silence_log is None:
            return list(self.evaluator.silences)
        now = time.time()
        return sorted(
            (s for s in self.silence_log.silences.values() if s.ends_at > now),
            key=lambda s: (s.starts_at, s.id),
        )

    def cluster(self) -> list[dict[str, Any]]:
        """The cluster's pending and firing alerts as their owners last wrote them on the
        silences topic: the same list on every worker (empty without that topic)."""
        if self.silence_log is None:
            return []
        return sorted(self.silence_log.alerts.values(), key=lambda a: (a["rule"], a["queue"]))

    def _describe(self, rule: AlertRule, alert: AlertState) -> dict[str, Any]:
        return describe(rule, alert, self.runtime.clock(alert.queue))

    def _share(self, rule: AlertRule, alert: AlertState) -> None:
        """Write the cluster's view of ``alert`` (an owned one), or its tombstone once it is
        neither pending nor firing."""
        if self.silence_log is None:
            return
        if alert.state not in ("pending", "firing"):
            self.silence_log.put_alert_soon(alert.fingerprint, None)
            return
        described = self._describe(rule, alert)
        shared = {name: described[name] for name in SHARED}
        self.silence_log.put_alert_soon(alert.fingerprint, {**shared, "worker": self.worker})

    # -- evaluation -------------------------------------------------------------------------

    def hold(self, behind: int) -> bool:
        """Whether to skip this evaluation: the worker is ``behind`` events (not yet applied)
        and that is more than ``alerts.hold_while_behind_events``. Logs when holding starts
        and ends."""
        held = 0 < self.hold_while_behind < behind
        if held and self.held_behind is None:
            log(
                logger,
                "alert evaluation held while the worker replays a backlog",
                logging.WARNING,
                events_behind=behind,
                hold_while_behind_events=self.hold_while_behind,
            )
        elif not held and self.held_behind is not None:
            log(logger, "alert evaluation resumed", events_behind=behind)
        self.held_behind = behind if held else None
        self.held.set(1 if held else 0)
        return held

    def tick(self, snapshots: dict[str, Any] | None = None) -> int:
        """Evaluate once on ``snapshots`` (default: the runtime's current ones); returns the
        number of transitions."""
        if not self._may_evaluate():
            return 0
        if snapshots is None:
            snapshots = self.runtime.snapshots()
        if not snapshots:
            return 0
        at = self._begin(snapshots)
        return self._conclude(snapshots, at, self.evaluator.evaluate(snapshots))

    async def tick_in_slices(self, snapshots: dict[str, Any], slice_seconds: float) -> int:
        """:meth:`tick`, with the rules evaluated a few queues at a time and the event loop
        given back every ``slice_seconds``: 1,000 queues at one go held the worker's loop for
        a few hundred milliseconds every second (``make bench``, "Loop stalls"). Each queue's
        evaluation depends on its snapshot alone, so the result is the same."""
        if not self._may_evaluate() or not snapshots:
            return 0
        at = self._begin(snapshots)
        transitions: list[Any] = []
        started = time.perf_counter()
        for snapshot in list(snapshots.values()):
            transitions += self.evaluator.evaluate((snapshot,))
            if time.perf_counter() - started >= slice_seconds:
                await give_way()
                started = time.perf_counter()
        return self._conclude(snapshots, at, transitions)

    def _may_evaluate(self) -> bool:
        if not (self.ready and self.runtime.ready):
            return False  # before recovery the restored state is not there yet: never re-page
        # The cluster's silences not known yet: never page a silenced alert.
        return self.silence_log is None or self.silence_log.ready.is_set()

    def _begin(self, snapshots: dict[str, Any]) -> float:
        """Before an evaluation: each queue's partition noted, silences expired; its instant."""
        store = self.runtime.store
        if store is not None:
            for queue in snapshots:
                partition = store.partition_of.get(queue)
                if partition is not None:
                    self.partition_of[queue] = partition
        at = max(s.at for s in snapshots.values())
        self.last_evaluation = at
        self.evaluator.expire_silences(at)
        return at

    def _conclude(self, snapshots: dict[str, Any], at: float, transitions: list[Any]) -> int:
        """After an evaluation: transitions published and notified, changed queues persisted;
        the number of transitions."""
        changed: set[str] = set()
        for transition in transitions:
            self._publish_transition(transition)
            self.transitions.labels(transition.rule, transition.state).inc()
            changed.add(transition.queue)
            alert = self.evaluator.alerts[(transition.rule, transition.queue)]
            rule = self.evaluator.rules[transition.rule]
            self._share(rule, alert)
            if transition.state == "resolved":
                self._end_ack(transition.fingerprint)
            if transition.state == "resolved" and alert.notified:
                self._submit(rule, alert, "resolved", transition.at, transition.value)
                alert.notified, alert.notified_at = False, None
            elif transition.escalated and alert.notified and not transition.silenced:
                self._submit(rule, alert, "firing", transition.at, transition.value)
        # Firing and not yet notified: just fired, or its silence has ended.
        for rule, alert in self.evaluator.firing():
            if alert.queue in snapshots and not alert.notified and alert.silenced_by(at) is None:
                alert.notified, alert.notified_at = True, time.time()
                self._submit(rule, alert, "firing", at, alert.value)
                changed.add(alert.queue)
        sending, self._sending = self._sending, {}
        resolving, self._resolving = self._resolving, set()
        for queue in changed - resolving:
            self.persist(queue)
        for queue, records in sending.items():
            self._persist_once_written(queue, records)
        return len(transitions)

    def _submit(
        self, rule: AlertRule, alert: AlertState, status: str, at: float, value: float | None
    ) -> None:
        if self.dispatcher is None:
            return
        written = self.dispatcher.submit(notification(rule, alert, status, at, value))
        if isinstance(written, asyncio.Future):
            self._sending.setdefault(alert.queue, []).append(written)
            if status == "resolved":
                self._resolving.add(alert.queue)
            else:
                self._unsent[alert.fingerprint] = written

    def _persist_once_written(self, queue: str, records: list[asyncio.Future[Any]]) -> None:
        """The notification record and the alert state that says "notified" are separate
        writes, to partitions that may lead on different brokers: written together, a worker
        killed after the state landed and before the record did would lose the page (the
        next owner restores "notified"). So until Kafka has the record, the changelog gets
        the state with the alert "not notified" (:meth:`persist`), and for a resolution not
        at all (the firing state stays there); the next owner then publishes it again, with
        the same transition id (fingerprint, severity and ``fired_at``, which are
        persisted), and the delivering member and the receivers drop the repeat. Once the
        records are written, the state as it is now."""

        def written(done: asyncio.Future[Any]) -> None:
            for fingerprint, record in list(self._unsent.items()):
                if record in records:
                    del self._unsent[fingerprint]
            if done.cancelled() or done.exception() is not None:
                error = "cancelled" if done.cancelled() else done.exception()
                log(
                    logger,
                    "notification record not written: alert state left as before it",
                    logging.ERROR,
                    queue=queue,
                    error=error,
                )
                return
            self.persist(queue)

        asyncio.gather(*records).add_done_callback(written)

    def _end_ack(self, fingerprint: str) -> None:
        """The alert resolved: its acknowledgement ends, on the silences topic too."""
        if self.silence_log is not None and fingerprint in self.silence_log.acks:
            self.silence_log.remove_soon(ack_key(fingerprint))

    def _publish_transition(self, transition: AlertTransition) -> None:
        record = {
            "kind": "transition",
            **msgspec.to_builtins(transition),
            "at_iso": iso(transition.at),
            "worker": self.worker,
        }
        self._publish(transition.fingerprint, record)
        log(
            logger,
            "alert transition",
            logging.WARNING if transition.state == "firing" else logging.INFO,
            rule=transition.rule,
            queue=transition.queue,
            state=transition.state,
            previous=transition.previous,
            severity=transition.severity,
            value="" if transition.value is None else round(transition.value, 4),
            fingerprint=transition.fingerprint,
        )

    def _publish(self, key: str, record: dict[str, Any]) -> None:
        self.topic.send_soon(key=key.encode(), value=_json.encode(record))

    # -- persistence ------------------------------------------------------------------------

    def persist(self, queue: str) -> None:
        """Write ``queue``'s alert state to the changelog partition of the queue."""
        partition = self.partition_of.get(queue)
        if partition is None and self.runtime.store is not None:
            partition = self.runtime.store.partition_of.get(queue)
        if partition is None:
            return  # not owned (any more): the owner persists it
        key = alert_key(partition, queue)
        states = self.evaluator.queue_state(queue)
        if self._unsent:  # see _persist_once_written
            states = [
                msgspec.structs.replace(s, notified=False, notified_at=None)
                if s.fingerprint in self._unsent
                else s
                for s in states
            ]
        value = encode_alert_states(states)
        self.table.data[key] = value
        self.table.send_changelog(partition, key, value)

    def restore(self, partitions: set[int]) -> list[str]:
        """Restore the alert state of ``partitions`` from the recovered table."""
        restored: list[str] = []
        for key, value in list(self.table.data.items()):
            parsed = parse_alert_key(key) if isinstance(key, bytes) else None
            if parsed is None or value is None or parsed[0] not in partitions:
                continue
            partition, queue = parsed
            self.evaluator.restore_queue(queue, decode_alert_states(value))
            self.partition_of[queue] = partition
            restored.append(queue)
        self._apply_cluster_state()
        owned = set(restored)
        for rule, alert in self.evaluator.active():
            if alert.queue in owned:
                self._share(rule, alert)
        for rule, alert in self.evaluator.firing():
            if alert.queue in owned and alert.notified and self.dispatcher is not None:
                at = alert.evaluated_at or time.time()
                self.dispatcher.track(notification(rule, alert, "firing", at, alert.value))
                if alert.acknowledged_by is not None:  # acknowledged before the move
                    self.dispatcher.acknowledge(alert.fingerprint)
        self.ready = True
        firing = sum(1 for _, a in self.evaluator.firing())
        log(logger, "alert state restored", queues=len(restored), firing=firing)
        return restored

    def forget(self, partitions: set[int]) -> list[str]:
        """Drop the alerts of queues in ``partitions`` (revoked: their new owner carries on)."""
        self.ready = False
        gone = [q for q, p in self.partition_of.items() if p in partitions]
        for queue in gone:
            if self.dispatcher is not None:  # stop its repeats here; send nothing
                for _, alert in self.evaluator.firing():
                    if alert.queue == queue:
                        self.dispatcher.forget(alert.fingerprint)
            self.evaluator.forget_queue(queue)
            del self.partition_of[queue]
        return gone
