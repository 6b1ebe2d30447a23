"""Staffing maths: Erlang C and Erlang A, numerically stable for hundreds of agents.

Why both: Erlang C (M/M/N) is the industry's standard planning formula, but it assumes nobody
ever hangs up, so it over-staffs a queue whose callers abandon and has no answer at all when the
load exceeds the agents. Erlang A (M/M/N+M: exponential patience) models abandonment, is stable
at any load and predicts the abandonment rate; with infinite patience it *is* Erlang C.

The models: processors/erlang_c.py (Erlang B and C), processors/erlang_a.py (Erlang A), their
special functions in processors/log_space.py; formulas and references in docs/staffing.md. This
module turns a queue's measured window into the live staffing figures.

Everything here is pure: numbers in, numbers out. ``None`` means "no answer": too little input,
or a quantity that is infinite (the ASA of an overloaded queue without abandonment).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import msgspec

from processors.erlang_a import erlang_a, erlang_a_agents_required
from processors.erlang_c import erlang_c, erlang_c_agents_required
from processors.settings import QueueSettings
from processors.snapshot import StaffingKpis, WindowKpis

__all__ = ["StaffingFigures", "StaffingInputs", "staffing_figures", "staffing_inputs"]


# -- live staffing per queue ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StaffingInputs:
    """What the staffing models need, measured over the staffing window."""

    arrival_rate: float
    """Calls per second: calls entered in the window / window length."""
    aht_seconds: float
    patience_seconds: float | None
    """Mean caller patience (None when nobody abandoned: Erlang A is then Erlang C)."""
    sl_threshold_seconds: float
    sl_target: float
    agents_staffed: int | None
    """Agents logged in now; None when the queue has never reported an agent state."""


class StaffingFigures(StaffingKpis, frozen=True):  # type: ignore[misc]  # msgspec allows it
    """The live staffing figures of one queue (:class:`~processors.snapshot.StaffingKpis`, the
    nullable LiveKpis fields of the same names), and what the predictions are for."""

    model: str | None = None
    """Which model the predictions use: ``erlang_a`` (a patience is known) or ``erlang_c``."""
    agents: int | None = None
    """The agents the predictions are for."""


def staffing_inputs(
    kpis: WindowKpis,
    window_seconds: int,
    settings: QueueSettings,
    agents_staffed: int | None,
) -> StaffingInputs | None:
    """Inputs from a window's KPIs, or None when they are too thin for any staffing figure:
    no call entered, or no handled call (no AHT)."""
    if kpis.entered <= 0 or kpis.aht_seconds is None or kpis.aht_seconds <= 0:
        return None
    patience = kpis.patience_seconds if kpis.abandoned > 0 else None
    return StaffingInputs(
        arrival_rate=kpis.entered / window_seconds,
        aht_seconds=kpis.aht_seconds,
        patience_seconds=patience if patience is not None and patience > 0 else None,
        sl_threshold_seconds=settings.sl_threshold_seconds,
        sl_target=settings.sl_target,
        agents_staffed=agents_staffed,
    )


@functools.lru_cache(maxsize=4096)
def staffing_figures(inputs: StaffingInputs | None, agents: int | None = None) -> StaffingFigures:
    """Agents required (both models), agents short and predictions for ``agents`` (default: the
    agents staffed now). Predictions use Erlang A when a patience is known, else Erlang C (its
    limit for infinite patience); figures that need staffed agents are None when none are
    known.

    Memoised: every snapshot of every queue asks, and the inputs of a queue change only when a
    call enters or leaves its staffing window, while each answer costs a search over agent
    counts (both arguments and the answer are immutable)."""
    if inputs is None:
        return StaffingFigures()
    load = inputs.arrival_rate * inputs.aht_seconds
    t, target = inputs.sl_threshold_seconds, inputs.sl_target
    required_c = erlang_c_agents_required(load, inputs.aht_seconds, t, target)
    required_a = (
        None
        if inputs.patience_seconds is None
        else erlang_a_agents_required(
            inputs.arrival_rate, inputs.aht_seconds, inputs.patience_seconds, t, target
        )
    )
    required = required_a if inputs.patience_seconds is not None else required_c
    n = inputs.agents_staffed if agents is None else agents
    figures = StaffingFigures(
        agents_required_erlang_c=None if required_c is None else float(required_c),
        agents_required_erlang_a=None if required_a is None else float(required_a),
    )
    if n is None:
        return figures
    short = None
    if inputs.agents_staffed is not None and required is not None:
        short = float(required - inputs.agents_staffed)
    if inputs.patience_seconds is not None:
        a = erlang_a(n, inputs.arrival_rate, inputs.aht_seconds, inputs.patience_seconds, t)
        return msgspec.structs.replace(
            figures,
            agents_short=short,
            predicted_service_level=a.service_level,
            predicted_asa_seconds=a.asa_seconds,
            predicted_abandon_rate=a.abandon_rate,
            model="erlang_a",
            agents=n,
        )
    c = erlang_c(n, load, inputs.aht_seconds, t)
    return msgspec.structs.replace(
        figures,
        agents_short=short,
        predicted_service_level=c.service_level,
        predicted_asa_seconds=c.asa_seconds,
        model="erlang_c",
        agents=n,
    )
