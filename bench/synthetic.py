"""Deterministic synthetic event streams for benchmarks (not a simulation: just load shapes).

The realistic simulator lives in streams/simulator; this module makes large, cheap, repeatable
streams with a known mix (entries, answers, abandons, ends, agent changes, tickets, surveys) so
benchmark figures are comparable from run to run.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime

import msgspec

from processors.events import (
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallEnded,
    CallEntered,
    Event,
    SurveyResponse,
    TicketCreated,
    TicketSolved,
)

_encoder = msgspec.json.Encoder()


def synthetic_events(
    count: int, queues: int, start: float, rate_per_second: float, seed: int = 7
) -> Iterator[Event]:
    """``count`` events over ``queues`` queues, spread at ``rate_per_second`` from ``start``."""
    rng = random.Random(seed)
    names = [f"q{i:04d}" for i in range(queues)]
    step = 1.0 / rate_per_second
    t = start
    n = 0
    call = 0
    while n < count:
        queue = names[rng.randrange(queues)]
        call += 1
        at = datetime.fromtimestamp(t, UTC)
        later = datetime.fromtimestamp(t + rng.uniform(1, 60), UTC)
        cid = f"c{call}"
        batch: list[Event] = [
            CallEntered(
                id=f"e{call}", time=at, queue=queue, call_id=cid, customer=f"u{rng.randrange(5000)}"
            )
        ]
        roll = rng.random()
        if roll < 0.85:
            batch.append(
                CallAnswered(id=f"a{call}", time=later, queue=queue, call_id=cid, agent="a1")
            )
            batch.append(
                CallEnded(
                    id=f"x{call}",
                    time=later,
                    queue=queue,
                    call_id=cid,
                    talk_seconds=180,
                    wrapup_seconds=30,
                )
            )
        else:
            batch.append(CallAbandoned(id=f"b{call}", time=later, queue=queue, call_id=cid))
        if roll < 0.05:
            batch.append(
                AgentStateChanged(
                    id=f"s{call}",
                    time=at,
                    queue=queue,
                    agent=f"ag{rng.randrange(20)}",
                    state=rng.choice(["available", "on_call", "wrap_up"]),
                )
            )
        if roll < 0.10:
            batch.append(
                TicketCreated(
                    id=f"t{call}",
                    time=at,
                    queue=queue,
                    ticket_id=f"T{call}",
                    customer=f"u{rng.randrange(5000)}",
                )
            )
        if roll < 0.03:
            batch.append(
                TicketSolved(id=f"v{call}", time=later, queue=queue, ticket_id=f"T{call - 30}")
            )
            batch.append(
                SurveyResponse(id=f"r{call}", time=later, queue=queue, csat=rng.randint(1, 5))
            )
        for event in batch:
            yield event
            n += 1
            if n >= count:
                return
        t += step * len(batch)


def encode(event: Event) -> bytes:
    return _encoder.encode(event)
