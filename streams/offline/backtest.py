"""Backtest: replay history through the KPI engine and the alert state machine, and score rules.

The same :class:`processors.engine.KpiEngine` as the worker applies the history in event-time
order; every ``step`` seconds of event time the engine reports its snapshots (what a worker would
have shown at that instant) and each candidate rule's alert state machine
(:mod:`processors.alerts`, the worker's own) is stepped on them. The transitions into and out of
``firing`` are the episodes :mod:`processors.backtest_scoring` scores: pages, firing time, flaps
and, with labelled incidents, detection delay, missed incidents and false pages.

Every candidate of a grid sees the very same snapshots, so a difference in the report is the
difference the thresholds make, nothing else.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import yaml

from processors.alert_rules import AlertRule, validate_rules
from processors.alerts import AlertEvaluator
from processors.backtest_scoring import Candidate, Episode, Incident, Score, score
from processors.engine import KpiEngine
from processors.events import Event
from processors.settings import EngineSettings
from processors.snapshot import QueueSnapshot

__all__ = [
    "BacktestResult",
    "CandidateResult",
    "load_incidents",
    "load_rules",
    "run_backtest",
]

Sample = tuple[float, float | None, float | None]
"""(instant, KPI value, volume compared with min_volume (None: the rule has none))."""

Progress = Callable[[int, int], None]
"""progress(done, total): events applied so far, out of all."""


@dataclass
class CandidateResult:
    candidate: Candidate
    episodes: list[Episode] = field(default_factory=list)
    queues: set[str] = field(default_factory=set)
    """Queues the rule was evaluated on (it matched them and they had data)."""
    score: Score = field(default_factory=Score)


@dataclass
class BacktestResult:
    start: float
    end: float
    step: int
    events: int
    candidates: list[CandidateResult]
    incidents: list[Incident]
    series: dict[tuple[str, str | None], dict[str, list[Sample]]]
    """(kpi, window) -> queue -> samples: what the rules looked at, for the chart."""

    def document(self) -> dict[str, Any]:
        """The JSON report."""
        return {
            "start": _iso(self.start),
            "end": _iso(self.end),
            "step_seconds": self.step,
            "events": self.events,
            "incidents": len(self.incidents),
            "results": [
                {
                    "rule": r.candidate.base,
                    "kpi": r.candidate.rule.kpi,
                    "window": r.candidate.rule.window,
                    "params": dict(r.candidate.params),
                    "label": r.candidate.label,
                    "fire": r.candidate.rule.fire,
                    "clear": r.candidate.rule.clear,
                    "for_seconds": r.candidate.rule.for_seconds,
                    "pages": r.score.pages,
                    "firing_seconds": r.score.firing_seconds,
                    "flaps": r.score.flaps,
                    "detected": r.score.detected if self.incidents else None,
                    "missed": r.score.missed if self.incidents else None,
                    "false_pages": r.score.false_pages if self.incidents else None,
                    "mean_detection_delay_seconds": r.score.mean_delay,
                    "max_detection_delay_seconds": r.score.max_delay,
                    "missed_incidents": r.score.missed_incidents,
                    "episodes": [
                        {
                            "queue": e.queue,
                            "start": _iso(e.start),
                            "end": None if e.end is None else _iso(e.end),
                            "value": e.value,
                        }
                        for e in r.episodes
                    ],
                }
                for r in self.candidates
            ],
        }


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")


# -- inputs ---------------------------------------------------------------------------------------


def load_rules(path: str | Path) -> list[AlertRule]:
    """Rules from a YAML file: a list of rules, ``{rules: [...]}``, or a whole ccpulse
    configuration file (its effective alert rules: defaults merged with its own)."""
    from streams.config import ConfigError, load_config

    text = Path(path).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if isinstance(data, dict) and "rules" not in data:
        return load_config(path).alerts.effective_rules()
    entries = data.get("rules") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise ConfigError(str(path), None, "rules", "expected a list of rules")
    rules: list[AlertRule] = []
    for index, entry in enumerate(entries):
        try:
            rules.append(msgspec.convert(entry, AlertRule))
        except msgspec.ValidationError as exc:
            name = entry.get("name", "?") if isinstance(entry, dict) else "?"
            raise ConfigError(str(path), None, f"rules[{index}]", f"rule {name!r}: {exc}") from None
    validate_rules(rules)
    return rules


def _instant(value: Any, where: str) -> float:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float):
        return float(value)
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{where}: not an ISO 8601 instant: {value!r}") from None
    if moment.tzinfo is None:
        raise ValueError(f"{where}: give a UTC offset or Z: {value!r}")
    return moment.timestamp()


def load_incidents(path: str | Path) -> list[Incident]:
    """Incidents from YAML or JSON: a list (or ``{incidents: [...]}``) of
    ``{queue, start, end, name?, rules?}`` with ISO 8601 instants."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    entries = data.get("incidents") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a list of incidents")
    incidents: list[Incident] = []
    for index, entry in enumerate(entries):
        where = f"{path}: incidents[{index}]"
        if not isinstance(entry, dict) or not {"queue", "start", "end"} <= set(entry):
            raise ValueError(f"{where}: needs queue, start and end")
        start = _instant(entry["start"], f"{where}.start")
        end = _instant(entry["end"], f"{where}.end")
        if end < start:
            raise ValueError(f"{where}: end is before start")
        rules = entry.get("rules") or []
        if isinstance(rules, str):
            rules = [rules]
        incidents.append(
            Incident(
                queue=str(entry["queue"]),
                start=start,
                end=end,
                name=str(entry.get("name", "")),
                rules=tuple(str(r) for r in rules),
            )
        )
    return incidents


def backtest_settings(base: EngineSettings, rules: Sequence[AlertRule]) -> EngineSettings:
    """The configured engine settings keeping only the windows the rules read (faster)."""
    wanted = {rule.window for rule in rules if rule.window is not None}
    windows = [w for w in base.windows if w in wanted] + sorted(wanted - set(base.windows))
    return msgspec.structs.replace(base, windows=windows)


# -- the replay -----------------------------------------------------------------------------------


def run_backtest(
    events: Iterable[Event],
    settings: EngineSettings,
    candidates: Sequence[Candidate],
    *,
    step: int = 30,
    incidents: Sequence[Incident] = (),
    flap_window: float = 900.0,
    grace: float = 0.0,
    progress: Progress | None = None,
) -> BacktestResult:
    """Replay ``events`` and step every candidate's alert state machines every ``step`` s."""
    if step <= 0:
        raise ValueError("step must be > 0 seconds")
    ordered = sorted(events, key=lambda e: e.time)
    engine = KpiEngine(backtest_settings(settings, [c.rule for c in candidates]))
    results = [CandidateResult(c) for c in candidates]
    tracks = [_AlertTrack(c.rule) for c in candidates]
    series: dict[tuple[str, str | None], dict[str, list[Sample]]] = {}
    if not ordered:
        return BacktestResult(0.0, 0.0, step, 0, results, list(incidents), series)
    first = math.floor(ordered[0].time.timestamp())
    last = math.floor(ordered[-1].time.timestamp())
    total = len(ordered)
    index = 0
    at = first + step
    while True:
        batch: list[Event] = []
        while index < total and ordered[index].time.timestamp() < at + 1:
            batch.append(ordered[index])
            index += 1
        if batch:
            engine.apply_all(batch)
        snapshots = engine.snapshot(at)
        _record(series, candidates, snapshots, at)
        for result, track in zip(results, tracks, strict=True):
            track.step(snapshots, float(at))
            result.queues.update(track.queues)
        if progress is not None:
            progress(index, total)
        if at >= last:
            break
        at = min(at + step, last)
    end = float(at)
    for result, track in zip(results, tracks, strict=True):
        result.episodes = track.episodes(end)
        result.score = score(
            result.candidate.base,
            result.episodes,
            end,
            incidents,
            flap_window=flap_window,
            grace=grace,
            queues=sorted(result.queues),
        )
    return BacktestResult(float(first), end, step, total, results, list(incidents), series)


class _AlertTrack:
    """One candidate rule's alerts: the worker's :class:`AlertEvaluator` (one per candidate, as
    candidates share the rule's name), with its transitions into and out of ``firing`` kept as
    episodes. An escalation (firing -> firing) is not a new page."""

    def __init__(self, rule: AlertRule) -> None:
        self.evaluator = AlertEvaluator([rule])
        self.queues: set[str] = set()
        self._open: dict[str, tuple[float, float | None]] = {}
        self._done: list[Episode] = []

    def step(self, snapshots: dict[str, QueueSnapshot], at: float) -> None:
        for queue in snapshots:
            if self.evaluator.rules_for(queue):
                self.queues.add(queue)
        for transition in self.evaluator.evaluate(snapshots, at):
            if transition.state == "firing" and transition.previous != "firing":
                self._open[transition.queue] = (transition.at, transition.value)
            elif transition.previous == "firing" and transition.state != "firing":
                start, value = self._open.pop(transition.queue)
                self._done.append(Episode(transition.queue, start, transition.at, value))

    def episodes(self, end: float) -> list[Episode]:
        """Every episode, those still firing at ``end`` left open (``end`` None)."""
        still = [Episode(queue, start, None, value) for queue, (start, value) in self._open.items()]
        return sorted([*self._done, *still], key=lambda e: (e.start, e.queue))


def _record(
    series: dict[tuple[str, str | None], dict[str, list[Sample]]],
    candidates: Sequence[Candidate],
    snapshots: dict[str, QueueSnapshot],
    at: int,
) -> None:
    from processors.alert_rules import rule_value, rule_volume

    seen: set[tuple[str, str | None]] = set()
    for candidate in candidates:
        key = (candidate.rule.kpi, candidate.rule.window)
        if key in seen:
            continue
        seen.add(key)
        per_queue = series.setdefault(key, {})
        for queue, snapshot in snapshots.items():
            value = rule_value(candidate.rule, snapshot)
            volume = rule_volume(candidate.rule, snapshot)
            per_queue.setdefault(queue, []).append((float(at), value, volume))
