"""A queue's KPIs at an instant: the snapshot (live gauges and every configured window), the
KPIs of an ad-hoc window, the staffing inputs and the per-span counters of closed intervals.

Read-only over a queue's runtime (processors/queue_runtime.py): what :class:`KpiEngine`
(processors/engine.py) reports, computed here so that applying and reporting each read on their
own.
"""

from __future__ import annotations

from collections.abc import Sequence

from processors.agents import busy_available_cells, occupancy
from processors.calendars import local_midnight
from processors.callbacks import callbacks_pending
from processors.calls import calls_waiting
from processors.formulas import window_kpis
from processors.ivr import ivr_active
from processors.kpis import CHANNEL_KPIS
from processors.queue_runtime import QueueRuntime
from processors.settings import QueueSettings
from processors.snapshot import LiveKpis, QueueSnapshot, WindowKpis
from processors.staffing import StaffingInputs, staffing_figures, staffing_inputs
from processors.ticket_sla import ticket_sla_gauges
from processors.tickets import backlog, ticket_gauges

__all__ = [
    "channel_kpis",
    "channel_windows",
    "queue_snapshot",
    "span_counters",
    "staffing_inputs_of",
    "window_of",
]


def queue_snapshot(
    queue: str,
    runtime: QueueRuntime,
    at: int,
    windows_config: Sequence[tuple[str, int | None]],
    today: str | None,
    staffing_label: str,
    staffing_length: int,
    channels: bool = True,
) -> QueueSnapshot:
    """``queue``'s KPIs at second ``at``: its live gauges, and each window of
    ``windows_config`` (label, length in seconds; None: since local midnight, the ``today``
    label); ``channels``: with the per-channel windows (:func:`channel_windows`)."""
    state, settings, panes = runtime.state, runtime.settings, runtime.panes
    windows: dict[str, WindowKpis] = {}
    firsts = _firsts(at, windows_config, settings)
    # Occupancy from cached closed minutes and quarters (processors/agents.py); `today`'s
    # panes from its cached closed quarters (processors/panes.py).
    occupied = runtime.occupancy.occupancies(list(firsts.values()), at)
    for (label, first), occupancy_now in zip(firsts.items(), occupied, strict=True):
        totals = panes.sum_since(first, at) if label == today else panes.sum(first, at)
        windows[label] = window_kpis(
            totals, settings.sl_variant, occupancy_now, settings.exits_against()
        )
    live = LiveKpis()
    live.calls_waiting, live.oldest_wait_seconds = calls_waiting(state, at, runtime.open_calls)
    live.callbacks_pending = callbacks_pending(state, at)
    live.ivr_active = ivr_active(state, at, runtime.open_passes)
    live.agents, live.agents_staffed = runtime.occupancy.agents_by_state(at)
    tickets_now = backlog(state, at, runtime.ticket_index())
    ticket_gauges(state, at, settings, live, backlog_tickets=tickets_now)
    ticket_sla_gauges(tickets_now, at, settings, runtime.clock, live)
    staffing_kpis = windows.get(staffing_label)
    inputs = staffing_inputs_of(
        runtime, settings, at, live.agents_staffed, staffing_length, staffing_kpis
    )
    figures = staffing_figures(inputs)
    figures.copy_staffing(live)
    snapshot = QueueSnapshot(queue=queue, at=float(at), live=live, windows=windows)
    if channels:
        snapshot.channels = _channel_windows(runtime, at, firsts, today)
    return snapshot


def channel_windows(
    runtime: QueueRuntime,
    at: int,
    windows_config: Sequence[tuple[str, int | None]],
    today: str | None,
) -> dict[str, dict[str, dict[str, float | None]]]:
    """Per channel of a queue of two channels or more, per window, its contact KPIs (empty for
    a queue of one channel: processors/channels.py). Apart from :func:`queue_snapshot` so that
    the readers that do not show channels (the alert timer, every second) do not pay for them."""
    return _channel_windows(runtime, at, _firsts(at, windows_config, runtime.settings), today)


def _firsts(
    at: int, windows_config: Sequence[tuple[str, int | None]], settings: QueueSettings
) -> dict[str, int]:
    """The first second of each window ending at ``at`` (``today``: local midnight)."""
    return {
        label: at - length + 1 if length else local_midnight(at, settings.timezone)
        for label, length in windows_config
    }


def _channel_windows(
    runtime: QueueRuntime, at: int, firsts: dict[str, int], today: str | None
) -> dict[str, dict[str, dict[str, float | None]]]:
    settings = runtime.settings
    return {
        channel: {
            label: channel_kpis(
                store.sum_since(first, at) if label == today else store.sum(first, at), settings
            )
            for label, first in firsts.items()
        }
        for channel, store in runtime.contacts.channels()
    }


def channel_kpis(totals: list[float], settings: QueueSettings) -> dict[str, float | None]:
    """One channel's contact KPIs from its summed counters (the same formulas as the queue's)."""
    kpis = window_kpis(totals, settings.sl_variant, None, settings.exits_against())
    return {name: getattr(kpis, name) for name in CHANNEL_KPIS}


def staffing_inputs_of(
    runtime: QueueRuntime,
    settings: QueueSettings,
    at: int,
    staffed: int,
    length: int,
    kpis: WindowKpis | None = None,
) -> StaffingInputs | None:
    """The staffing inputs over the ``length`` seconds ending at ``at`` (``kpis``: that
    window's KPIs when already computed)."""
    state = runtime.state
    if kpis is None:
        kpis = window_of(runtime, at, at - length + 1)
    # A queue that never reported an agent state has unknown staffing, not zero agents.
    return staffing_inputs(kpis, length, settings, staffed if state.agents else None)


def window_of(runtime: QueueRuntime, at: int, first: int) -> WindowKpis:
    """KPIs over the seconds ``first..at`` (for ad-hoc windows, e.g. replay --window)."""
    return window_kpis(
        runtime.panes.sum(first, at),
        runtime.settings.sl_variant,
        occupancy(runtime.state, first, at),
        runtime.settings.exits_against(),
    )


def span_counters(
    runtime: QueueRuntime, bounds: Sequence[int]
) -> list[tuple[list[float], float, float]]:
    """Per consecutive span ``[bounds[i], bounds[i + 1])``: its summed counters and its
    agents' busy and available seconds (what :func:`window_of` computes KPIs from)."""
    agent_cells = busy_available_cells(runtime.state, [float(b) for b in bounds])
    return [
        (runtime.panes.sum_coarse(first, end - 1), busy, available)
        for first, end, (busy, available) in zip(bounds[:-1], bounds[1:], agent_cells, strict=True)
    ]
