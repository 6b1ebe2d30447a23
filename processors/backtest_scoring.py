"""Backtest scoring: how a rule would have paged on past traffic, and whether it was right.

The replay (streams/offline/backtest.py) drives the real engine and the real alert state machine
(processors/alerts.py) over history and records each (rule, queue) alert's *episodes*: from the
transition to ``firing`` to the one out of it. This module turns episodes into the figures a
supervisor tunes thresholds with:

* **pages**: episodes (each is one page to the on-call person);
* **firing time**: total seconds spent firing (an episode still open at the end of the history
  counts up to the end);
* **flaps**: pages that start within ``flap_window`` seconds of the previous episode of the same
  alert resolving (the "it cleared and came straight back" the hysteresis and cooldown should
  prevent);

and, given labelled incidents (a queue and a start and end time each):

* **detected / missed**: an incident is detected by the first page of its queue that is firing at
  some instant of [start, end + grace]; otherwise missed;
* **detection delay**: that page's start - the incident's start (0 if it was already firing);
* **false pages**: pages during which no incident of their queue was under way (their firing
  span does not meet any [start, end + grace]).

Grids: ``expand_grid`` makes the candidate rules for ``rule.param=v1,v2,...`` settings.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import msgspec

from processors.alert_rules import AlertRule
from processors.kpis import RATE_KPIS

__all__ = [
    "GRID_PARAMS",
    "Candidate",
    "Episode",
    "Incident",
    "Score",
    "expand_grid",
    "parse_grid",
    "score",
]

GRID_PARAMS = frozenset(
    {"fire", "clear", "for_seconds", "min_volume", "cooldown_seconds", "escalate_after_seconds"}
)
"""Rule fields a grid can vary."""


@dataclass(frozen=True, slots=True)
class Incident:
    """A labelled period of real trouble on a queue (from the incidents file)."""

    queue: str
    start: float
    end: float
    name: str = ""
    rules: tuple[str, ...] = ()
    """Rules this incident should be caught by (empty: every rule on its queue)."""

    def concerns(self, rule: str) -> bool:
        return not self.rules or rule in self.rules


@dataclass(frozen=True, slots=True)
class Episode:
    """One alert from firing to resolved (``end`` None: still firing when the history ended)."""

    queue: str
    start: float
    end: float | None
    value: float | None = None
    """The KPI value when it fired."""


@dataclass(slots=True)
class Score:
    pages: int = 0
    firing_seconds: float = 0.0
    flaps: int = 0
    incidents: int = 0
    detected: int = 0
    missed: int = 0
    false_pages: int = 0
    delays: list[float] = field(default_factory=list)
    """Detection delay of each detected incident, in seconds."""
    missed_incidents: list[str] = field(default_factory=list)

    @property
    def mean_delay(self) -> float | None:
        return sum(self.delays) / len(self.delays) if self.delays else None

    @property
    def max_delay(self) -> float | None:
        return max(self.delays) if self.delays else None


def score(
    rule: str,
    episodes: Sequence[Episode],
    end: float,
    incidents: Sequence[Incident] = (),
    *,
    flap_window: float = 900.0,
    grace: float = 0.0,
    queues: Sequence[str] | None = None,
) -> Score:
    """Score one rule's episodes (all queues) over a history that ended at ``end``.

    ``queues``: the queues the rule was evaluated on (incidents elsewhere are not its business;
    None: all).
    """
    result = Score()
    by_queue: dict[str, list[Episode]] = {}
    for episode in sorted(episodes, key=lambda e: (e.queue, e.start)):
        by_queue.setdefault(episode.queue, []).append(episode)
    for queue_episodes in by_queue.values():
        previous_end: float | None = None
        for episode in queue_episodes:
            result.pages += 1
            result.firing_seconds += (episode.end if episode.end is not None else end) - (
                episode.start
            )
            if previous_end is not None and episode.start - previous_end <= flap_window:
                result.flaps += 1
            previous_end = episode.end if episode.end is not None else end
    relevant = [i for i in incidents if i.concerns(rule) and (queues is None or i.queue in queues)]
    result.incidents = len(relevant)
    for incident in relevant:
        hit = next(
            (
                e
                for e in by_queue.get(incident.queue, [])
                if _overlaps(e, end, incident.start, incident.end + grace)
            ),
            None,
        )
        if hit is None:
            result.missed += 1
            result.missed_incidents.append(incident.name or f"{incident.queue}@{incident.start:g}")
        else:
            result.detected += 1
            result.delays.append(max(0.0, hit.start - incident.start))
    if incidents:
        for queue, queue_episodes in by_queue.items():
            mine = [i for i in incidents if i.queue == queue and i.concerns(rule)]
            for episode in queue_episodes:
                if not any(_overlaps(episode, end, i.start, i.end + grace) for i in mine):
                    result.false_pages += 1
    return result


def _overlaps(episode: Episode, end: float, start: float, stop: float) -> bool:
    episode_end = episode.end if episode.end is not None else end
    return episode.start <= stop and episode_end >= start


# -- grids ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Candidate:
    """One candidate version of a rule: the rule with some parameters replaced."""

    rule: AlertRule
    base: str
    """The configured rule's name (``rule.name`` is the same: alerts keep their identity)."""
    params: tuple[tuple[str, float], ...]
    """The replaced parameters, in grid order (empty: the rule as configured)."""

    @property
    def label(self) -> str:
        if not self.params:
            return "as configured"
        return ", ".join(f"{name}={value:g}" for name, value in self.params)


def parse_grid(specs: Sequence[str]) -> dict[str, dict[str, list[float]]]:
    """``["abandon_rate.fire=0.08,0.10", "abandon_rate.for_seconds=60,120"]`` (or the same
    joined by ``;``) -> ``{"abandon_rate": {"fire": [0.08, 0.1], "for_seconds": [60, 120]}}``.

    The key before the dot is a rule name or a KPI (every rule on that KPI)."""
    grid: dict[str, dict[str, list[float]]] = {}
    for spec in specs:
        for part in (p.strip() for p in spec.split(";")):
            if not part:
                continue
            target, equals, values = part.partition("=")
            rule, dot, param = target.strip().rpartition(".")
            if not equals or not dot or not rule:
                raise ValueError(f"grid {part!r}: write RULE_OR_KPI.PARAM=V1,V2,...")
            if param not in GRID_PARAMS:
                known = ", ".join(sorted(GRID_PARAMS))
                raise ValueError(f"grid {part!r}: cannot vary {param!r} (one of: {known})")
            try:
                numbers = [float(v) for v in values.split(",") if v.strip()]
            except ValueError:
                raise ValueError(f"grid {part!r}: values must be numbers") from None
            if not numbers:
                raise ValueError(f"grid {part!r}: give at least one value")
            grid.setdefault(rule, {})[param] = numbers
    return grid


def expand_grid(
    rules: Sequence[AlertRule], grid: Mapping[str, Mapping[str, Sequence[float]]]
) -> list[Candidate]:
    """Every rule once as configured, or, if the grid names it (or its KPI), once per
    combination of its grid values. When ``fire`` varies and ``clear`` does not, ``clear`` keeps
    its distance from ``fire`` (the hysteresis band moves with the threshold)."""
    unknown = [key for key in grid if not any(key in (r.name, r.kpi) for r in rules)]
    if unknown:
        known = ", ".join(sorted({r.name for r in rules} | {r.kpi for r in rules}))
        raise ValueError(f"grid names no rule or KPI {unknown[0]!r} (rules and KPIs: {known})")
    candidates: list[Candidate] = []
    for rule in rules:
        params: dict[str, Sequence[float]] = {}
        for key in (rule.kpi, rule.name):  # a rule's own name wins over its KPI
            params.update(grid.get(key, {}))
        if not params:
            candidates.append(Candidate(rule, rule.name, ()))
            continue
        names = list(params)
        for values in itertools.product(*(params[n] for n in names)):
            changes: dict[str, float] = dict(zip(names, values, strict=True))
            if "fire" in changes and "clear" not in changes:
                changes["clear"] = changes["fire"] - (rule.fire - rule.clear)
                if rule.kpi in RATE_KPIS:
                    changes["clear"] = min(1.0, max(0.0, changes["clear"]))
            candidate = msgspec.structs.replace(rule, **changes)
            candidates.append(
                Candidate(candidate, rule.name, tuple((n, changes[n]) for n in names))
            )
    return candidates
