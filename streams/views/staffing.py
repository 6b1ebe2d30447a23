"""The staffing what-if as a JSON document: one shape for ``GET /api/staffing`` and the CLI.

``GET /api/staffing?queue=Q[&agents=N]`` answers "with N agents (default: the agents staffed
now), what service level, ASA and abandonment should we expect now?" from the queue's live
arrival rate, AHT and patience (processors/staffing.py). ``ccpulse staffing`` prints the same
document, asked of a running worker or computed offline from explicit inputs.
"""

from __future__ import annotations

import math
import time
from typing import Any

import faust

from processors.kpis import kpi
from processors.snapshot import STAFFING_FIELDS
from processors.staffing import StaffingFigures, StaffingInputs, staffing_figures
from streams.views.worker_view import WorkerView

__all__ = ["StaffingRequestError", "document", "live_staffing_document", "register_staffing_view"]


class StaffingRequestError(ValueError):
    """A bad what-if request; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def document(inputs: StaffingInputs | None, figures: StaffingFigures) -> dict[str, Any]:
    """Inputs and figures; ``agents_required`` is Erlang A's when a patience is known, else
    Erlang C's; ``service_level``, ``asa_seconds``, ``abandon_rate`` are for ``agents``."""
    patience = None if inputs is None else inputs.patience_seconds
    required = (
        figures.agents_required_erlang_a
        if patience is not None
        else figures.agents_required_erlang_c
    )
    return {
        "inputs": None
        if inputs is None
        else {
            "calls_per_hour": inputs.arrival_rate * 3600.0,
            "aht_seconds": inputs.aht_seconds,
            "patience_seconds": inputs.patience_seconds,
            "offered_load_erlangs": inputs.arrival_rate * inputs.aht_seconds,
            "sl_threshold_seconds": inputs.sl_threshold_seconds,
            "sl_target": inputs.sl_target,
            "agents_staffed": inputs.agents_staffed,
        },
        "model": figures.model,
        "agents": figures.agents,
        "agents_required": None if required is None else int(required),
        **{_KEYS[name]: _value(name, getattr(figures, name)) for name in STAFFING_FIELDS},
    }


_KEYS = {name: name.removeprefix("predicted_") for name in STAFFING_FIELDS}
"""The document's key of each staffing figure: its name, the predictions without
``predicted_`` (``service_level``, ``asa_seconds``, ``abandon_rate`` for ``agents``)."""


def _value(name: str, value: float | None) -> float | int | None:
    """Agent counts as whole numbers, the predictions as they are."""
    if value is None or kpi(name).unit != "agents":
        return value
    return int(value)


def parse_agents(text: str | None) -> int | None:
    if text is None or text == "":
        return None
    try:
        agents = int(text)
    except ValueError:
        raise StaffingRequestError(400, f"agents must be a whole number, not {text!r}") from None
    if not 0 <= agents <= 100_000:
        raise StaffingRequestError(400, "agents must be between 0 and 100000")
    return agents


def live_staffing_document(
    runtime: WorkerView, queue: str | None, agents: int | None
) -> dict[str, Any]:
    """The what-if for ``queue`` from the worker's engine, at the engine's "now"."""
    if not queue:
        raise StaffingRequestError(400, "missing ?queue=")
    engine = runtime.engine
    if queue not in engine.queues:
        raise StaffingRequestError(404, f"queue {queue!r} is not owned by this worker")
    at = math.floor(runtime.clock(queue))
    inputs = engine.staffing_inputs(queue, at)
    body = document(inputs, staffing_figures(inputs, agents))
    window = engine.settings.staffing_window
    return {
        "queue": queue,
        "at": float(at),
        "at_iso": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at)),
        "window": window,
        **body,
    }


def register_staffing_view(app: faust.App, runtime: WorkerView) -> None:
    from streams.views.access import access_of

    access = access_of(runtime)

    @app.page("/api/staffing")
    async def staffing(self: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        query = request.query
        grant = access.grant(request)
        if grant is None:
            return access.refused(self, request, "missing or wrong bearer token")
        if not grant.may("read", query.get("queue") or ""):
            return access.refused(self, request, "may not read this queue", 403)
        try:
            body = live_staffing_document(
                runtime, query.get("queue"), parse_agents(query.get("agents"))
            )
        except StaffingRequestError as exc:
            return self.json({"error": str(exc)}, status=exc.status)
        return self.json(body)

    del staffing
