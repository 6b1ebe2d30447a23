"""The KPI families of /metrics as Prometheus text: rendered a queue at a time, kept, reused.

Why not prometheus_client's collectors (streams/views/metrics.py) for the page: with 1,000
queues a full scrape is about 160,000 series (10 MB of text), and building them as metric
families and rendering those with ``generate_latest`` ran 1.9 s in one go on the event loop,
holding up fetches, the changelog producer, alert evaluation and the wallboard stream
(``make bench``, "Loop stalls"). :class:`KpiPage` instead

* writes each queue's lines itself, the same bytes ``generate_latest`` writes for those samples
  (tests/test_exposition.py compares the two on every family, hostile queue names included);
* keeps them per queue and per part (engine counters, live gauges, each window) and writes a
  part again only when its values changed since the last scrape: a window whose counts did not
  move costs one comparison;
* gives the event loop back every ``SLICE_SECONDS`` while it works;
* groups the kept lines by family at the end, as the text format requires;
* for a scrape restricted to a few families (``?name[]=``, a probe), writes only those.

The families, their names, help and types are those of :class:`KpiCollector` (one definition).
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from typing import Any

from processors.snapshot import LiveKpis, QueueSnapshot, WindowKpis
from processors.state import QueueState
from streams.give_way import give_way
from streams.views.metrics import (
    _STATE_COUNTERS,
    CHANNEL_WINDOW_METRICS,
    LIVE_DICT_METRICS,
    LIVE_METRICS,
    STAFFING_METRICS,
    WINDOW_METRICS,
    KpiCollector,
)
from streams.views.text_format import family_header, label_value, number

__all__ = ["SLICE_SECONDS", "KpiPage"]

SLICE_SECONDS = 0.005
"""Longest stretch of rendering before the event loop is given back."""
FEW_FAMILIES = 4
"""A scrape restricted to at most this many families writes them straight from the snapshots;
more, and the whole page's kept lines are brought up to date and used."""


_COUNTER_FIELDS = tuple(attribute for _, attribute in _STATE_COUNTERS)
_COUNTER_NAMES = tuple(f"{spec.name}_total" for spec, _ in _STATE_COUNTERS)
_LIVE = tuple((spec.name, spec.source_field) for spec in LIVE_METRICS + STAFFING_METRICS)
_LIVE_DICT = tuple(
    (spec.name, spec.source_field, spec.labels[1], spec.labels[1] < "queue")
    for spec in LIVE_DICT_METRICS
)
_WINDOW = tuple((spec.name, spec.source_field) for spec in WINDOW_METRICS)
_LIVE_FAMILIES = len(_LIVE) + len(_LIVE_DICT)
_CHANNEL = tuple((spec.name, spec.source_field) for spec in CHANNEL_WINDOW_METRICS)
ChannelKpis = dict[str, dict[str, dict[str, float | None]]]


def _counter_lines(queue: str, state: QueueState | None) -> tuple[str, ...]:
    if state is None:
        return ("",) * len(_COUNTER_NAMES)
    return tuple(
        f'{name}{{queue="{queue}"}} {number(float(getattr(state, attribute)))}\n'
        for name, attribute in zip(_COUNTER_NAMES, _COUNTER_FIELDS, strict=True)
    )


def _live_lines(queue: str, live: LiveKpis) -> tuple[str, ...]:
    lines = []
    for name, field in _LIVE:
        value = getattr(live, field)
        lines.append("" if value is None else f'{name}{{queue="{queue}"}} {number(float(value))}\n')
    for name, field, label, label_first in _LIVE_DICT:
        parts = []
        for key, value in getattr(live, field).items():
            text = number(float(value))
            key = label_value(key)
            if label_first:
                parts.append(f'{name}{{{label}="{key}",queue="{queue}"}} {text}\n')
            else:
                parts.append(f'{name}{{queue="{queue}",{label}="{key}"}} {text}\n')
        lines.append("".join(parts))
    return tuple(lines)


def _window_lines(queue: str, window: str, kpis: WindowKpis) -> tuple[str, ...]:
    labels = f'{{queue="{queue}",window="{label_value(window)}"}} '
    lines = []
    for name, field in _WINDOW:
        value = getattr(kpis, field)
        lines.append("" if value is None else f"{name}{labels}{number(float(value))}\n")
    return tuple(lines)


def _channel_lines(queue: str, channels: ChannelKpis) -> tuple[str, ...]:
    """The per-channel families of a queue (none while it has one channel)."""
    if not channels:
        return ("",) * len(_CHANNEL)
    lines = []
    for name, field in _CHANNEL:
        parts = []
        for channel, windows in channels.items():
            for window, kpis in windows.items():
                value = kpis[field]
                if value is not None:
                    labels = (
                        f'{{channel="{channel}",queue="{queue}",window="{label_value(window)}"}} '
                    )
                    parts.append(f"{name}{labels}{number(float(value))}\n")
        lines.append("".join(parts))
    return tuple(lines)


def _family_text(index: int, queue: str, snap: QueueSnapshot, state: QueueState | None) -> str:
    """One queue's lines of family ``index`` alone (a scrape restricted to a few families)."""
    if index < len(_COUNTER_NAMES):
        return _counter_lines(queue, state)[index]
    index -= len(_COUNTER_NAMES)
    if index < _LIVE_FAMILIES:
        return _live_lines(queue, snap.live)[index]
    index -= _LIVE_FAMILIES
    if index >= len(_WINDOW):
        return _channel_lines(queue, snap.channels)[index - len(_WINDOW)]
    name, field = _WINDOW[index]
    parts = []
    for window, kpis in snap.windows.items():
        value = getattr(kpis, field)
        if value is not None:
            labels = f'{{queue="{queue}",window="{label_value(window)}"}} '
            parts.append(f"{name}{labels}{number(float(value))}\n")
    return "".join(parts)


class _QueueText:
    """One queue's kept lines, one string per family, and the values they were written from."""

    __slots__ = ("channel_lines", "channels", "counters", "lines", "live", "live_lines", "windows")

    def __init__(self) -> None:
        self.counters: tuple[Any, ...] | None = None
        self.live: LiveKpis | None = None
        self.live_lines: tuple[str, ...] = ()
        self.windows: dict[str, tuple[WindowKpis, tuple[str, ...]]] = {}
        self.channels: ChannelKpis | None = None
        self.channel_lines: tuple[str, ...] = ()
        self.lines: tuple[str, ...] = ()

    def update(
        self, queue: str, snap: QueueSnapshot, state: QueueState | None, per_channel: bool
    ) -> None:
        """Write again the parts whose values changed since the last call (``per_channel``:
        with the per-channel families)."""
        label = label_value(queue)
        changed = False
        counters = None if state is None else tuple(getattr(state, f) for f in _COUNTER_FIELDS)
        if counters != self.counters or not self.lines:
            self.counters = counters
            counter_lines = _counter_lines(label, state)
            changed = True
        else:
            counter_lines = self.lines[: len(_COUNTER_NAMES)]
        if snap.live != self.live:
            self.live = snap.live
            self.live_lines = _live_lines(label, snap.live)
            changed = True
        windows = self.windows
        if list(windows) != list(snap.windows):
            windows = self.windows = {}
            changed = True
        for window, kpis in snap.windows.items():
            kept = windows.get(window)
            if kept is None or kept[0] != kpis:
                windows[window] = (kpis, _window_lines(label, window, kpis))
                changed = True
        if per_channel and snap.channels != self.channels:
            self.channels = snap.channels
            self.channel_lines = _channel_lines(label, snap.channels)
            changed = True
        if changed:
            parts = [kept[1] for kept in windows.values()]
            window_lines = tuple("".join(column) for column in zip(*parts, strict=True))
            if not parts:
                window_lines = ("",) * len(_WINDOW)
            self.lines = counter_lines + self.live_lines + window_lines + self.channel_lines


class KpiPage:
    """The per-queue KPI families of one worker's /metrics (module docstring)."""

    def __init__(self, per_channel: bool = False) -> None:
        collectors = KpiCollector(dict, dict).collectors()  # their definitions only
        self.per_channel = per_channel
        """Whether the page has the per-channel families (``metrics.per_channel``)."""
        if not per_channel:
            collectors = collectors[: len(collectors) - len(_CHANNEL)]
        self.headers: tuple[str, ...] = tuple(
            family_header(next(iter(c.describe()))) for c in collectors
        )
        names: list[set[str]] = []
        for collector in collectors:
            family = next(iter(collector.describe()))
            names.append({family.name, f"{family.name}_total", f"{family.name}_created"})
        self._names = names
        self.metric_names: frozenset[str] = frozenset().union(*names)
        """Every metric (and sample) name the page answers to."""
        self._queues: dict[str, _QueueText] = {}
        families = len(_COUNTER_NAMES) + _LIVE_FAMILIES + len(_WINDOW)
        assert len(self.headers) == families + (len(_CHANNEL) if per_channel else 0)

    def families(self, names: Collection[str]) -> list[int] | None:
        """The families a scrape restricted to ``names`` asks for (None: no restriction)."""
        if not names:
            return None
        wanted = set(names)
        return [index for index, known in enumerate(self._names) if known & wanted]

    async def render(
        self,
        snapshots: Mapping[str, QueueSnapshot],
        states: Mapping[str, QueueState],
        families: list[int] | None = None,
        prefix: bytes = b"",
    ) -> bytes:
        """``prefix`` and :meth:`render_parts` joined: the page as one string of bytes."""
        return b"".join([prefix, *await self.render_parts(snapshots, states, families)])

    async def render_parts(
        self,
        snapshots: Mapping[str, QueueSnapshot],
        states: Mapping[str, QueueState],
        families: list[int] | None = None,
    ) -> list[bytes]:
        """The text of ``families`` (all when None) for the queues of ``snapshots``, with the
        engine counters of their ``states``, in parts (a family's header, then its lines), to
        be sent one after the other; the event loop is given back every ``SLICE_SECONDS``.
        Each family is encoded as it is joined, and the parts are never joined into one page:
        that copy of 10-15 MB (1,000 queues) held a worker's loop for 40-50 ms at one go
        (measured on a worker beside Apache Kafka, its heap large; 2 ms in a small process)."""
        if families is not None and len(families) <= FEW_FAMILIES:
            return [await self._few(snapshots, states, families)]
        kept = self._queues
        order: list[tuple[str, ...]] = []  # the lines of each queue, in the snapshots' order
        started = time.perf_counter()
        for queue, snap in snapshots.items():
            text = kept.get(queue)
            if text is None:
                text = kept[queue] = _QueueText()
            text.update(queue, snap, states.get(queue), self.per_channel)
            order.append(text.lines)
            if time.perf_counter() - started >= SLICE_SECONDS:
                await give_way()
                started = time.perf_counter()
        if len(kept) > len(snapshots):
            for queue in [queue for queue in kept if queue not in snapshots]:
                del kept[queue]
        columns = range(len(self.headers)) if families is None else families
        page = []
        for index in columns:
            page.append(self.headers[index].encode())
            page.append("".join([lines[index] for lines in order]).encode())
            if time.perf_counter() - started >= SLICE_SECONDS:
                await give_way()
                started = time.perf_counter()
        return page

    async def _few(
        self,
        snapshots: Mapping[str, QueueSnapshot],
        states: Mapping[str, QueueState],
        families: list[int],
    ) -> bytes:
        """A few families, written straight from the snapshots (nothing kept): a probe of one
        family renders that family only."""
        page = []
        started = time.perf_counter()
        for index in families:
            page.append(self.headers[index])
            for queue, snap in snapshots.items():
                page.append(_family_text(index, label_value(queue), snap, states.get(queue)))
                if time.perf_counter() - started >= SLICE_SECONDS:
                    await give_way()
                    started = time.perf_counter()
        return "".join(page).encode()
