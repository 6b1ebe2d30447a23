"""How much memory the KPI engine's state takes: one process generates, another applies.

``python -m bench.memory_probe generate QUEUES HOURS OPEN_CALLS OPEN_TICKETS`` writes JSON lines
of simulated traffic for QUEUES queues over HOURS hours, plus OPEN_CALLS calls that enter and
never leave and OPEN_TICKETS tickets that are created and never solved (spread over the first
half of the span, so they are ordinary events to the engine). ``python -m bench.memory_probe
apply`` reads them from stdin in batches into a :class:`~processors.engine.KpiEngine` and prints
one JSON object: the process's resident memory before and after (after ``gc.collect()``),
and what the state holds. Generating in a separate process keeps the simulator's own memory out
of the figure; the difference of the two RSS readings is the engine's state.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
from datetime import UTC, datetime
from typing import Any

import msgspec

from bench.machine import rss_bytes
from processors.events import CallEntered, Event, TicketCreated

__all__ = ["apply_stdin", "generate"]

START = 1_795_000_000.0  # a fixed instant (2026-11-18 08:26 UTC), so runs are comparable
BATCH = 5000


def generate(queues: int, hours: float, open_calls: int, open_tickets: int) -> None:
    from bench.workload import simulated_events

    out = sys.stdout.buffer
    encoder = msgspec.json.Encoder()
    end = START + hours * 3600.0
    spread = max(1.0, min(1800.0, hours * 1800.0))
    sent_calls = sent_tickets = 0
    lines: list[bytes] = []
    for event in simulated_events(queues, START, seed=17):
        t = event.time.timestamp()
        if t >= end:
            break
        share = min(1.0, (t - START) / spread)
        while sent_calls < open_calls * share:
            queue = f"q{sent_calls % queues:04d}"
            lines.append(
                encoder.encode(
                    CallEntered(
                        id=f"open-call-{sent_calls}",
                        time=event.time,
                        queue=queue,
                        call_id=f"open-call-{sent_calls}",
                        customer=f"open-cust-{sent_calls}",
                    )
                )
            )
            sent_calls += 1
        while sent_tickets < open_tickets * share:
            queue = f"q{sent_tickets % queues:04d}"
            lines.append(
                encoder.encode(
                    TicketCreated(
                        id=f"open-ticket-{sent_tickets}",
                        time=event.time,
                        queue=queue,
                        ticket_id=f"open-ticket-{sent_tickets}",
                        customer=f"open-cust-t{sent_tickets}",
                    )
                )
            )
            sent_tickets += 1
        lines.append(encoder.encode(event))
        if len(lines) >= BATCH:
            out.write(b"\n".join(lines) + b"\n")
            lines.clear()
    if lines:
        out.write(b"\n".join(lines) + b"\n")
    out.flush()


def _breakdown(states: list[Any]) -> dict[str, int]:
    """Approximate bytes per part of the state (``sys.getsizeof`` of the containers, their
    keys and the float objects they hold): where the memory goes, not an exact account."""
    size = sys.getsizeof
    float_size = size(1.5)
    parts = dict.fromkeys(
        ("second_chunks", "minute_panes", "quarter_panes", "calls", "tickets", "contacts"), 0
    )
    parts.update(channel_panes=0, agents=0, seen_ids=0)
    from bench.drilldown_memory import drilldown_bytes

    parts["drilldown"] = drilldown_bytes(states)
    for state in states:
        levels = ("second_chunks", "minute_panes", "quarter_panes")
        for name, level in zip(levels, state.panes, strict=True):
            # A packed pane (array) holds its floats; a list would hold a float object each.
            parts[name] += size(level) + sum(
                size(pane) + (float_size * sum(1 for v in pane if v) if type(pane) is list else 0)
                for pane in level.values()
            )
        for levels in state.channel_panes.values():
            parts["channel_panes"] += sum(
                size(level) + sum(size(pane) for pane in level.values()) for level in levels
            )
        parts["calls"] += size(state.calls) + sum(
            size(key) + size(visit) for key, visit in state.calls.items()
        )
        parts["tickets"] += size(state.tickets) + sum(
            size(key)
            + size(ticket)
            + size(ticket.statuses)
            + float_size * 2
            + (size(ticket.customer) if ticket.customer else 0)
            for key, ticket in state.tickets.items()
        )
        parts["contacts"] += (
            size(state.contacts)
            + sum(
                size(key) + size(history) + sum(size(entry) + float_size for entry in history)
                for key, history in state.contacts.items()
            )
            + size(state.lone_contacts)
            + sum(size(k) + size(e) + float_size for k, e in state.lone_contacts.items())
        )
        parts["agents"] += size(state.agents) + sum(
            size(timeline) + size(timeline.times) + size(timeline.states)
            for timeline in state.agents.values()
        )
        parts["seen_ids"] += sum(
            size(ids) + sum(size(key) + float_size for key in ids) for ids in state.seen.values()
        )
    return parts


def apply_stdin() -> None:
    from processors.engine import KpiEngine
    from processors.state import encode_state

    decoder = msgspec.json.Decoder(Event)
    engine = KpiEngine()
    gc.collect()
    before = rss_bytes(os.getpid())[0]
    started = time.perf_counter()
    events = 0
    batch: list[Event] = []
    for line in sys.stdin.buffer:
        batch.append(decoder.decode(line))
        if len(batch) >= BATCH:
            engine.apply_all(batch)
            events += len(batch)
            batch = []
    if batch:
        engine.apply_all(batch)
        events += len(batch)
    seconds = time.perf_counter() - started
    del batch
    gc.collect()
    after, peak = rss_bytes(os.getpid())
    states = engine.queues.values()
    encoded = sum(len(encode_state(state)) for state in states)
    waiting_calls = sum(
        1
        for s in states
        for v in s.calls.values()
        if v.entered_at is not None and v.exit_at is None
    )
    last = max((s.watermark or 0.0) for s in states) if engine.queues else START
    result = {
        "events": events,
        "apply_seconds": seconds,
        "queues": len(engine.queues),
        "rss_before_bytes": before,
        "rss_after_bytes": after,
        "rss_peak_bytes": peak,
        "state_bytes": after - before,
        "encoded_state_bytes": encoded,
        "open_calls": waiting_calls,
        "tickets": sum(len(s.tickets) for s in states),
        "panes": sum(len(level) for s in states for level in s.panes),
        "span_end": datetime.fromtimestamp(last, UTC).isoformat(),
        "breakdown_bytes": _breakdown(list(states)),
    }
    print(json.dumps(result))


def main(argv: list[str]) -> int:
    if argv[:1] == ["generate"]:
        queues, hours, calls, tickets = argv[1:5]
        generate(int(queues), float(hours), int(calls), int(tickets))
        return 0
    if argv[:1] == ["apply"]:
        apply_stdin()
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
