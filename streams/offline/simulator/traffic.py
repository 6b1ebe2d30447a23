"""What the simulator simulates: each queue's size and traffic (:class:`QueueModel`, the
default four), the daily curve of arrivals, and the scenarios (a surge, an outage)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DAILY_CURVE", "QueueModel", "Scenario", "default_queues"]

# Hour-of-day multipliers (local time): quiet nights, a morning and an afternoon peak.
DAILY_CURVE: tuple[float, ...] = (
    0.15, 0.1, 0.1, 0.1, 0.15, 0.25, 0.45, 0.75, 1.1, 1.35, 1.4, 1.3,
    1.15, 1.2, 1.35, 1.3, 1.15, 0.95, 0.7, 0.5, 0.4, 0.3, 0.25, 0.2,
)  # fmt: skip


@dataclass(frozen=True)
class QueueModel:
    name: str
    calls_per_hour: float
    agents: int
    timezone: str = "UTC"
    talk_mean: float = 240.0
    wrapup_mean: float = 45.0
    patience_mean: float = 120.0
    max_wait: float = 600.0
    capacity: int = 25
    tickets_per_hour: float = 20.0


def default_queues() -> list[QueueModel]:
    return [
        QueueModel("billing", 120, 17, "Europe/London"),
        QueueModel("sales", 90, 13, "America/New_York", talk_mean=300, tickets_per_hour=10),
        QueueModel("support", 150, 28, "UTC", talk_mean=360, tickets_per_hour=40),
        QueueModel("technical", 60, 13, "Asia/Kolkata", talk_mean=420, patience_mean=180),
    ]


@dataclass(frozen=True)
class Scenario:
    """``surge``: arrivals x ``factor`` on ``queue`` during [start, start + duration) (seconds
    after the simulation start); ``outage``: the agents of ``queue`` log off for that span."""

    name: str = "normal"
    queue: str | None = None
    start: float = 600.0
    duration: float = 1800.0
    factor: float = 2.0

    def active(self, queue: str, offset: float) -> bool:
        target = self.queue if self.queue is not None else None
        return (
            self.name != "normal"
            and queue == target
            and self.start <= offset < self.start + self.duration
        )
