"""``ccpulse ingest asterisk``: follow queue_log, produce canonical events, save the position.

One cycle: read up to ``batch_max_lines`` complete lines (:mod:`streams.ingest.follower`), map
them (:class:`streams.sources.asterisk.QueueLogMapper`, the same mapping ``ccpulse replay
--format asterisk-queue-log`` uses), produce the events keyed by queue and each malformed line to
the dead-letter topic with its file and line number, wait for Kafka's acknowledgement, and only
then save the position (with the mapper's memory) atomically. A crash anywhere re-reads at most
the unacknowledged batch: at-least-once, and the re-read lines carry the same ids.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace

from streams.config import Config
from streams.ingest.follower import FileFollower
from streams.ingest.metrics import IngestMetrics, report_refused
from streams.ingest.position import load_position, save_position
from streams.ingest.producer import AckedProducer, Record, deadletter, event_record
from streams.logs import log
from streams.sources.asterisk import QueueLogMapper
from streams.sources.problems import ParseProblem

__all__ = ["QueueLogIngest"]

logger = logging.getLogger("ccpulse.ingest.asterisk")


class QueueLogIngest:
    def __init__(
        self,
        config: Config,
        producer: AckedProducer,
        queue_log: str,
        state_file: str,
        metrics: IngestMetrics | None = None,
    ) -> None:
        settings = config.sources.asterisk
        self.config, self.producer = config, producer
        self.queue_log, self.state_file = queue_log, state_file
        self.metrics = metrics or IngestMetrics()
        self.poll = settings.poll_interval_seconds
        self.batch_max_lines = settings.batch_max_lines
        self.stop_event = threading.Event()
        start = load_position(state_file)
        self.mapper = QueueLogMapper(
            settings.queue_map, (start.extra.get("agents") if start else None) or {}
        )
        self.max_line_bytes = settings.max_line_bytes
        self.follower = FileFollower(
            queue_log, start, on_reset=self._on_reset, max_line_bytes=settings.max_line_bytes
        )
        self._refused_events = 0
        producer.on_refused = self._on_refused  # Kafka refusing a record: counted here
        if start is not None:
            log(logger, "resuming", file=queue_log, offset=start.offset, line=start.line)

    def _on_reset(self, kind: str) -> None:
        self.metrics.file_resets.labels(self.queue_log, kind).inc()

    def stop(self) -> None:
        self.stop_event.set()

    def run(self) -> None:
        """Follow until :meth:`stop`; the batch in hand is finished (or left unsaved)."""
        try:
            while not self.stop_event.is_set():
                if not self.step():
                    self.stop_event.wait(self.poll)
        finally:
            self.follower.close()

    def step(self) -> bool:
        """One batch; False when there was nothing new to read."""
        batch = self.follower.read_batch(self.batch_max_lines)
        if batch is None:
            return False
        records: list[Record] = []
        events = 0
        problems: list[ParseProblem] = []
        for number, text in batch.lines:
            if not text.strip():
                continue
            mapped = self.mapper.map_line(text, number)
            if isinstance(mapped, ParseProblem):
                problems.append(mapped)
                log(
                    logger,
                    "malformed queue_log line skipped",
                    level=logging.WARNING,
                    file=batch.path,
                    line=number,
                    reason=mapped.reason,
                )
                source = {"source": "asterisk", "file": batch.path, "line": number}
                records.append(
                    deadletter(
                        self.config.topics.deadletter,
                        text.encode(),
                        mapped.reason,
                        "malformed",
                        source,
                    )
                )
                continue
            origin = {"source": "asterisk", "file": batch.path, "line": number}
            for event in mapped:
                records.append(event_record(event, self.config, origin))
                events += 1
        for long in batch.overlong:
            reason = (
                f"line {long.number} is {long.size} bytes, over sources.asterisk.max_line_bytes"
                f" ({self.max_line_bytes})"
            )
            log(
                logger,
                "over-long queue_log line skipped",
                level=logging.WARNING,
                file=batch.path,
                line=long.number,
                size=long.size,
            )
            source = {"source": "asterisk", "file": batch.path, "line": long.number}
            whole = (long.size, long.sha256)
            records.append(
                deadletter(
                    self.config.topics.deadletter,
                    long.prefix,
                    reason,
                    "line_too_long",
                    source,
                    whole,
                )
            )
        self._refused_events = 0
        if records and not self.producer.send_until_acked(
            records, self.stop_event.is_set, self._on_produce_error
        ):
            return True  # stopping with the batch unacknowledged: it is re-read next start
        position = replace(batch.position, extra={"agents": self.mapper.state()})
        save_position(self.state_file, position)
        self.metrics.events.labels("asterisk").inc(events - self._refused_events)
        self.metrics.lines.labels(self.queue_log).inc(len(batch.lines) + len(batch.overlong))
        if problems:
            self.metrics.deadlettered.labels("asterisk", "malformed").inc(len(problems))
        if batch.overlong:
            self.metrics.deadlettered.labels("asterisk", "line_too_long").inc(len(batch.overlong))
        return True

    def _on_refused(self, record: Record, error: Exception, replacement: Record | None) -> None:
        if record.topic != self.config.topics.deadletter:
            self._refused_events += 1
        report_refused(self.metrics, logger, record, error, replacement)

    def _on_produce_error(self, exc: Exception) -> None:
        self.metrics.produce_errors.inc()
        log(logger, "produce failed; retrying", level=logging.WARNING, error=repr(exc))
