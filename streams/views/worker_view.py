"""What the HTTP views, the wallboard, the staffing view and the alert API read of the worker.

:class:`streams.worker.runtime.WorkerRuntime` satisfies :class:`WorkerView`; the views are
typed with this Protocol rather than the class so that ``streams.views`` does not import the
worker package, which imports this package's Prometheus collectors (streams/views/metrics.py):
no import cycle between the two (tests/test_layering.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from prometheus_client import CollectorRegistry

from processors.alerts import Silence
from processors.engine import KpiEngine
from processors.snapshot import QueueSnapshot
from streams.config import Config
from streams.views.exposition import KpiPage
from streams.views.prepared_page import PreparedPage

__all__ = ["AlertBook", "WorkerView"]


class AlertBook(Protocol):
    """The worker's alert state, as the alert API and the wallboard read and change it
    (streams.alerting.runtime.AlertRuntime)."""

    ready: bool
    last_evaluation: float | None
    held_behind: int | None

    def firing(self) -> list[dict[str, Any]]: ...

    def active(self) -> list[dict[str, Any]]: ...

    def silences(self) -> list[Silence]: ...

    def acknowledge(
        self, fingerprint: str, by: str, comment: str = ""
    ) -> dict[str, Any] | None: ...

    def silence(
        self, rule: str, queue: str, duration: float, by: str, comment: str = ""
    ) -> tuple[Silence, list[dict[str, Any]]]: ...


class WorkerView(Protocol):
    """The worker runtime as the views see it (streams.worker.runtime.WorkerRuntime)."""

    config: Config
    engine: KpiEngine
    registry: CollectorRegistry
    alerts: AlertBook | None
    ready: bool
    started_at: float
    kpi_page: KpiPage | None
    prepared_page: PreparedPage | None

    def clock(self, queue: str | None = None) -> float: ...

    def snapshots(self) -> dict[str, QueueSnapshot]: ...

    def snapshot_of(self, queue: str) -> QueueSnapshot | None: ...

    async def fresh_snapshots(self) -> dict[str, QueueSnapshot]: ...

    def invalidate(self, queues: Iterable[str] | None = None) -> None: ...
