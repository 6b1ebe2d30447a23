"""``ccpulse staffing``: how many agents, and what to expect with N of them.

Live: ``ccpulse staffing --queue Q [--agents N]`` asks a running worker's ``/api/staffing``
(the queue's arrival rate, AHT and patience over the staffing window). Offline, for a planner
without a running system: ``ccpulse staffing --calls-per-hour R --aht S [--patience P]
[--agents N | --target-sl 0.8] --sl-threshold T``. Erlang A when a patience is known, else
Erlang C (docs/staffing.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

__all__ = ["offline_document", "register", "render", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "staffing",
        help="agents required and expected service level (Erlang C / Erlang A)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    live = parser.add_argument_group("live (asks a running worker)")
    live.add_argument("--queue", help="queue name")
    live.add_argument(
        "--url", help="worker base URL (default: http://<worker.web_host>:<worker.web_port>)"
    )
    offline = parser.add_argument_group("offline (explicit inputs)")
    offline.add_argument("--calls-per-hour", type=float, metavar="R")
    offline.add_argument("--aht", type=float, metavar="SECONDS", help="average handle time")
    offline.add_argument(
        "--patience", type=float, metavar="SECONDS", help="mean caller patience (Erlang A)"
    )
    offline.add_argument(
        "--sl-threshold", type=float, metavar="SECONDS", help="service-level threshold T"
    )
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--agents", type=int, metavar="N", help="predict for N agents")
    choice.add_argument(
        "--target-sl",
        type=float,
        metavar="FRACTION",
        help="service-level target for agents required (offline; default 0.8)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def offline_document(
    calls_per_hour: float,
    aht: float,
    threshold: float,
    *,
    patience: float | None = None,
    agents: int | None = None,
    target: float = 0.8,
) -> dict[str, Any]:
    """The what-if from explicit inputs: figures for ``agents``, or for the agents required."""
    from processors.staffing import StaffingInputs, staffing_figures
    from streams.views.staffing import document

    if calls_per_hour <= 0 or aht <= 0 or threshold < 0:
        raise ValueError("--calls-per-hour and --aht must be > 0, --sl-threshold >= 0")
    if patience is not None and patience <= 0:
        raise ValueError("--patience must be > 0")
    if not 0 < target < 1:
        raise ValueError("--target-sl must be between 0 and 1 (e.g. 0.8)")
    if agents is not None and agents < 0:
        raise ValueError("--agents must be >= 0")
    inputs = StaffingInputs(
        arrival_rate=calls_per_hour / 3600.0,
        aht_seconds=aht,
        patience_seconds=patience,
        sl_threshold_seconds=threshold,
        sl_target=target,
        agents_staffed=None,
    )
    if agents is None:
        required = document(inputs, staffing_figures(inputs, 0))["agents_required"]
        if required is None:
            raise ValueError("more than 100000 agents would be needed")
        agents = required
    return document(inputs, staffing_figures(inputs, agents))


def _worker_url(args: argparse.Namespace) -> str:
    if args.url:
        return str(args.url).rstrip("/")
    from streams.config import config_from_env

    worker = config_from_env(args.config).worker
    return f"http://{worker.web_host}:{worker.web_port}"


def _live_document(args: argparse.Namespace) -> dict[str, Any]:
    query = {"queue": args.queue}
    if args.agents is not None:
        query["agents"] = str(args.agents)
    url = f"{_worker_url(args)}/api/staffing?{urllib.parse.urlencode(query)}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            body: dict[str, Any] = json.load(response)
            return body
    except urllib.error.HTTPError as exc:
        try:
            reason = json.load(exc).get("error", exc.reason)
        except ValueError:
            reason = exc.reason
        raise ValueError(f"{url}: {exc.code} {reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ValueError(f"cannot reach the worker at {url}: {reason}") from None


def run(args: argparse.Namespace) -> int:
    offline_flags = [args.calls_per_hour, args.aht, args.patience, args.sl_threshold]
    try:
        if args.queue:
            if any(flag is not None for flag in offline_flags) or args.target_sl is not None:
                raise ValueError("--queue asks a worker; the offline flags do not apply")
            doc = _live_document(args)
        else:
            if args.calls_per_hour is None or args.aht is None or args.sl_threshold is None:
                raise ValueError(
                    "give --queue Q, or --calls-per-hour R --aht SECONDS --sl-threshold SECONDS"
                )
            doc = offline_document(
                args.calls_per_hour,
                args.aht,
                args.sl_threshold,
                patience=args.patience,
                agents=args.agents,
                target=0.8 if args.target_sl is None else args.target_sl,
            )
    except ValueError as exc:
        print(f"ccpulse staffing: {exc}", file=sys.stderr)
        return 2
    if args.json:
        sys.stdout.write(json.dumps(doc) + "\n")
    else:
        print(render(doc))
    return 0


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def render(doc: dict[str, Any]) -> str:
    """A few readable lines: the inputs, the model, agents required and the prediction."""
    lines: list[str] = []
    if "queue" in doc:
        lines.append(f"queue {doc['queue']} at {doc['at_iso']} (inputs over {doc['window']})")
    inputs = doc.get("inputs")
    if inputs is None:
        lines.append("not enough data for staffing figures (no calls entered or none handled)")
        return "\n".join(lines)
    patience = inputs["patience_seconds"]
    lines.append(
        f"inputs: {inputs['calls_per_hour']:.1f} calls/h, AHT {inputs['aht_seconds']:.1f} s "
        f"({inputs['offered_load_erlangs']:.2f} Erlangs), "
        + (f"patience {patience:.1f} s" if patience is not None else "no abandonment measured")
        + f"; target {100 * inputs['sl_target']:.0f} % in {inputs['sl_threshold_seconds']:g} s"
    )
    model = "Erlang A" if doc["model"] == "erlang_a" else "Erlang C"
    lines.append(
        f"agents required: {doc['agents_required'] if doc['agents_required'] is not None else '-'}"
        f" ({model}; Erlang C {doc['agents_required_erlang_c']}"
        + (
            f", Erlang A {doc['agents_required_erlang_a']}"
            if doc["agents_required_erlang_a"] is not None
            else ""
        )
        + ")"
    )
    if inputs.get("agents_staffed") is not None:
        lines.append(f"agents staffed: {inputs['agents_staffed']}, short: {doc['agents_short']}")
    if doc["agents"] is not None:
        text = (
            f"with {doc['agents']} agents: service level {_percent(doc['service_level'])}, "
            f"ASA {_seconds(doc['asa_seconds'])}"
        )
        if doc["abandon_rate"] is not None:
            text += f", abandonment {_percent(doc['abandon_rate'])}"
        lines.append(text)
    return "\n".join(lines)
