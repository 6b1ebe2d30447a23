"""Realistic simulated traffic for the benchmark: many queues of different sizes.

The events come from the project's own simulator (streams/simulator), so the mix (entries,
answers, abandons, agent state changes, tickets moving between queues, surveys) is the one the
worker sees in a demo, not a hand-made shape. Same seed -> the same events.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

import msgspec

from processors.events import TICKETING_TYPES, Event
from streams.offline.simulator import QueueModel, Simulation

__all__ = ["Record", "bench_queues", "encode_records", "simulated_events"]

Record = tuple[str, bytes, bytes]
"""(family: "telephony" | "ticketing", key, value) as produced to Kafka."""

_encoder = msgspec.json.Encoder()
_ZONES = ("UTC", "Europe/London", "America/New_York", "Asia/Kolkata", "Australia/Sydney")


def bench_queues(count: int, seed: int = 11) -> list[QueueModel]:
    """``count`` queues of mixed size; each staffed for ~85 % occupancy at its mean load."""
    rng = random.Random(seed)
    queues = []
    for index in range(count):
        calls = rng.choice((40.0, 60.0, 90.0, 120.0, 180.0, 240.0))
        talk = rng.choice((180.0, 240.0, 300.0, 360.0))
        erlangs = calls * (talk + 45.0) / 3600.0
        queues.append(
            QueueModel(
                name=f"q{index:04d}",
                calls_per_hour=calls,
                agents=max(2, math.ceil(erlangs / 0.85)),
                timezone=_ZONES[index % len(_ZONES)],
                talk_mean=talk,
                tickets_per_hour=rng.choice((5.0, 10.0, 20.0, 40.0)),
            )
        )
    return queues


def simulated_events(queues: int, start: float, seed: int = 5) -> Iterator[Event]:
    """The simulator's events for ``queues`` queues from ``start`` on (endless; slice it)."""
    return Simulation(bench_queues(queues), start=start, seed=seed).events()


def encode_records(events: list[Event]) -> list[Record]:
    """Wire records, keyed by queue, split by family as the simulator's Kafka sink does."""
    return [
        (
            "ticketing" if isinstance(event, TICKETING_TYPES) else "telephony",
            event.queue.encode(),
            _encoder.encode(event),
        )
        for event in events
    ]
