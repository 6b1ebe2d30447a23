"""What people do to alerts, as :class:`streams.alerting.runtime.AlertRuntime` takes it:
acknowledgements and silences, posted here or read from the cluster's silences topic
(streams/alerting/silences.py), applied to the alerts of the queues this worker owns, persisted
with them and shared with the cluster."""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

import msgspec

from processors.alert_rules import AlertRule
from processors.alerts import AlertEvaluator, AlertState, Silence
from streams.alerting.alert_documents import iso
from streams.alerting.silences import Ack, SilenceLog
from streams.logs import log

if TYPE_CHECKING:
    from streams.alerting.delivery_log import NotificationPublisher
    from streams.alerting.dispatch import Dispatcher
    from streams.worker.runtime import WorkerRuntime

__all__ = ["AcksAndSilences"]

logger = logging.getLogger("ccpulse.alerts")


class AcksAndSilences:
    """Part of :class:`~streams.alerting.runtime.AlertRuntime` (a mixin): it needs the
    runtime's evaluator, its persistence and its sharing with the cluster."""

    runtime: WorkerRuntime
    evaluator: AlertEvaluator
    dispatcher: Dispatcher | NotificationPublisher | None
    silence_log: SilenceLog | None
    worker: str

    def persist(self, queue: str) -> None:
        raise NotImplementedError

    def _share(self, rule: AlertRule, alert: AlertState) -> None:
        raise NotImplementedError

    def _describe(self, rule: AlertRule, alert: AlertState) -> dict[str, Any]:
        raise NotImplementedError

    def _publish(self, key: str, record: dict[str, Any]) -> None:
        raise NotImplementedError

    def acknowledge(self, fingerprint: str, by: str, comment: str = "") -> dict[str, Any] | None:
        """Acknowledge a firing alert of an owned queue; None when there is none here (the
        caller writes :meth:`ack_record` to the silences topic: the owner applies it)."""
        at = self.runtime.clock()
        alert = self.evaluator.acknowledge(fingerprint, by, at)
        if alert is None:
            return None
        rule = self.evaluator.rules[alert.rule]
        if self.dispatcher is not None:  # no more repeats to humans until it resolves
            self.dispatcher.acknowledge(fingerprint)
        self._publish(
            fingerprint,
            {
                "kind": "ack",
                "fingerprint": fingerprint,
                "rule": alert.rule,
                "queue": alert.queue,
                "by": by,
                "comment": comment,
                "at": at,
                "at_iso": iso(at),
                "worker": self.worker,
            },
        )
        self.persist(alert.queue)
        self._share(rule, alert)
        log(logger, "alert acknowledged", rule=alert.rule, queue=alert.queue, by=by)
        return self._describe(rule, alert)

    def ack_record(self, fingerprint: str, by: str, comment: str = "") -> Ack:
        """The cluster-wide acknowledgement of ``fingerprint`` (for the silences topic)."""
        return Ack(fingerprint=fingerprint, by=by, at=self.runtime.clock(), comment=comment)

    def ack_changed(self, fingerprint: str, ack: Ack | None) -> None:
        """An acknowledgement on the silences topic: applied if the alert fires here."""
        if ack is None:
            return
        for _, alert in self.evaluator.firing():
            if alert.fingerprint == fingerprint and alert.acknowledged_by is None:
                self.evaluator.acknowledge(fingerprint, ack.by, ack.at)
                self.persist(alert.queue)
                self._share(self.evaluator.rules[alert.rule], alert)
                log(logger, "alert acknowledged", rule=alert.rule, queue=alert.queue, by=ack.by)

    def silence_changed(self, silence_id: str, silence: Silence | None) -> None:
        """A silence on the silences topic: added (or removed) for the alerts owned here."""
        if silence is None:
            self.evaluator.unsilence(silence_id)
            return
        if any(s == silence for s in self.evaluator.silences):
            return
        covered = self.evaluator.silence(silence)
        for queue in {alert.queue for alert in covered}:
            self.persist(queue)
        for alert in covered:
            if alert.rule in self.evaluator.rules:
                self._share(self.evaluator.rules[alert.rule], alert)

    def _apply_cluster_state(self) -> None:
        """After a restore: the cluster's silences and acknowledgements over the restored
        alerts (their own copies may predate a silence posted while they moved)."""
        if self.silence_log is None:
            return
        for silence in self.silence_log.silences.values():
            self.evaluator.silence(silence)
        for fingerprint, ack in self.silence_log.acks.items():
            self.ack_changed(fingerprint, ack)

    def silence(
        self, rule: str, queue: str, duration: float, by: str, comment: str = ""
    ) -> tuple[Silence, list[dict[str, Any]]]:
        """Silence matching alerts for ``duration`` seconds of engine time (the queue's)."""
        at = self.runtime.clock(queue)
        silence = Silence(
            id=uuid.uuid4().hex[:16],
            rule=rule,
            queue=queue,
            starts_at=at,
            ends_at=at + duration,
            created_by=by,
            comment=comment,
        )
        covered = self.evaluator.silence(silence)
        self._publish(
            silence.id,
            {
                "kind": "silence",
                **msgspec.to_builtins(silence),
                "starts_at_iso": iso(silence.starts_at),
                "ends_at_iso": iso(silence.ends_at),
                "worker": self.worker,
            },
        )
        for queue_name in {alert.queue for alert in covered}:
            self.persist(queue_name)
        log(logger, "alerts silenced", rule=rule, queue=queue, by=by, seconds=duration)
        rules = self.evaluator.rules
        return silence, [
            self._describe(rules[a.rule], a)
            for a in covered
            if a.rule in rules and a.state in ("pending", "firing")
        ]
