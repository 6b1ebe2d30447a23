"""The backtest chart: one rule's KPI over the replayed history, per queue, with each candidate's
fire and clear thresholds as lines, its pages as markers and shaded firing spans, and the
labelled incidents as grey bands. Written with matplotlib's Agg backend (no display needed)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from streams.offline.backtest import BacktestResult, CandidateResult

__all__ = ["write_chart"]

MAX_QUEUES = 6


def write_chart(result: BacktestResult, rule: str, path: str | Path) -> list[str]:
    """Write the PNG for ``rule`` (a rule name) to ``path``; returns the queues drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    chosen = [r for r in result.candidates if r.candidate.base == rule]
    if not chosen:
        raise ValueError(f"no rule {rule!r} in the backtest")
    first = chosen[0].candidate.rule
    per_queue = result.series.get((first.kpi, first.window), {})
    paged = {e.queue for r in chosen for e in r.episodes}
    incident_queues = {i.queue for i in result.incidents}
    ranked = sorted(per_queue, key=lambda q: (q not in paged, q not in incident_queues, q))
    queues = ranked[:MAX_QUEUES]
    rows = max(1, len(queues))
    figure, axes = plt.subplots(rows, 1, figsize=(11, 2.8 * rows + 0.8), sharex=True, squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    window = f" over {first.window}" if first.window else ""
    figure.suptitle(f"Backtest of {rule}: {first.kpi}{window}")
    for axis, queue in zip(axes[:, 0], queues, strict=False):
        points = per_queue.get(queue, [])
        times = [_when(t) for t, _, _ in points]
        thin = [v is not None and n is not None and n < first.min_volume for _, v, n in points]
        values = [float("nan") if v is None else v for _, v, _ in points]
        counted = [float("nan") if low else v for v, low in zip(values, thin, strict=True)]
        axis.plot(times, values, color="0.7", linewidth=0.8, label="below min_volume")
        axis.plot(times, counted, color="black", linewidth=1.0, label=first.kpi)
        for incident in result.incidents:
            if incident.queue == queue:
                axis.axvspan(
                    _when(incident.start), _when(incident.end), color="0.85", zorder=0, lw=0
                )
        for number, candidate in enumerate(chosen):
            _draw_candidate(axis, candidate, queue, colours[number % len(colours)])
        axis.set_ylabel(queue)
        axis.grid(True, alpha=0.3)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if result.incidents:
        from matplotlib.patches import Patch

        handles.append(Patch(color="0.85", label="labelled incident"))
        labels.append("labelled incident")
    axes[0, 0].legend(handles, labels, loc="upper left", fontsize=7, ncol=2)
    axes[-1, 0].xaxis.set_major_locator(mdates.AutoDateLocator(tz=UTC))  # type: ignore[no-untyped-call]
    axes[-1, 0].xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=UTC))  # type: ignore[no-untyped-call]
    axes[-1, 0].set_xlabel("event time (UTC)")
    figure.tight_layout()
    figure.savefig(str(path), dpi=110)
    plt.close(figure)
    return queues


def _draw_candidate(axis: object, result: CandidateResult, queue: str, colour: str) -> None:
    from matplotlib.axes import Axes

    assert isinstance(axis, Axes)
    rule = result.candidate.rule
    label = result.candidate.label
    axis.axhline(rule.fire, color=colour, linestyle="--", linewidth=1, label=f"fire ({label})")
    if rule.clear != rule.fire:
        axis.axhline(rule.clear, color=colour, linestyle=":", linewidth=1, label=f"clear ({label})")
    for episode in result.episodes:
        if episode.queue != queue:
            continue
        end = episode.end if episode.end is not None else None
        if end is not None:
            axis.axvspan(_when(episode.start), _when(end), color=colour, alpha=0.12, lw=0)
        axis.plot(
            [_when(episode.start)],
            [episode.value if episode.value is not None else rule.fire],
            marker="v",
            color=colour,
            markersize=8,
            linestyle="none",
        )


def _when(at: float) -> float:
    """Matplotlib's date number of a POSIX instant (days since 1970 in its default epoch)."""
    from matplotlib.dates import date2num

    return float(date2num(datetime.fromtimestamp(at, UTC)))  # type: ignore[no-untyped-call]
