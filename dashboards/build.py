"""Build every dashboard to JSON, write it to ``dashboards/generated/``, or list what is stale.

The JSON is committed so a Grafana can be provisioned from the repository without Python; a test
regenerates it and fails when the committed files differ from the code. Thresholds come from the
alert rules and the window variables from the engine's windows: the committed files use the
defaults (``default_rules()``, the default windows); ``ccpulse dashboards generate --config``
builds a deployment's own.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from dashboards import operations, queue_detail, tickets, wallboard
from processors.alert_rules import AlertRule
from processors.default_alert_rules import default_rules
from processors.settings import EngineSettings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from grafana_foundation_sdk.cog.encoder import JSONEncoder

__all__ = [
    "BOARDS",
    "GENERATED_DIR",
    "PanelQuery",
    "dashboard_queries",
    "render",
    "stale_files",
    "to_text",
    "write",
]

GENERATED_DIR = Path(__file__).resolve().parent / "generated"

BOARDS: dict[str, ModuleType] = {
    "wallboard": wallboard,
    "queue-detail": queue_detail,
    "tickets": tickets,
    "operations": operations,
}
"""File stem -> module with ``build(rules, windows)``."""


def _number_panels(panels: list[dict[str, Any]], next_id: int = 1) -> int:
    """Give every panel (rows' nested panels too) a unique, stable id."""
    for panel in panels:
        panel["id"] = next_id
        next_id += 1
        next_id = _number_panels(panel.get("panels") or [], next_id)
    return next_id


def render(
    rules: Sequence[AlertRule] | None = None, windows: Sequence[str] | None = None
) -> dict[str, dict[str, Any]]:
    """Every dashboard as a JSON document, keyed by file stem."""
    rules = default_rules() if rules is None else rules
    windows = EngineSettings().windows if windows is None else windows
    documents: dict[str, dict[str, Any]] = {}
    for stem, module in BOARDS.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            built = module.build(rules, list(windows)).build()
        document = json.loads(JSONEncoder().encode(built))
        _number_panels(document.get("panels") or [])
        documents[stem] = document
    return documents


def to_text(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write(
    out_dir: Path = GENERATED_DIR,
    rules: Sequence[AlertRule] | None = None,
    windows: Sequence[str] | None = None,
) -> list[Path]:
    """Write ``<stem>.json`` for every dashboard; remove no other file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, document in render(rules, windows).items():
        path = out_dir / f"{stem}.json"
        path.write_text(to_text(document), encoding="utf-8")
        written.append(path)
    return written


def stale_files(
    out_dir: Path = GENERATED_DIR,
    rules: Sequence[AlertRule] | None = None,
    windows: Sequence[str] | None = None,
) -> list[str]:
    """Names of the generated files that are missing or differ from what the code builds."""
    stale = []
    for stem, document in render(rules, windows).items():
        path = out_dir / f"{stem}.json"
        if not path.exists() or path.read_text(encoding="utf-8") != to_text(document):
            stale.append(path.name)
    return stale


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    """The dashboard's uid."""
    panel: str
    """The panel title, or ``annotation:<name>`` / ``variable:<name>``."""
    expr: str
    kind: str
    """``panel``, ``annotation`` or ``variable``."""


_LABEL_VALUES = re.compile(r"^label_values\((?P<metric>[^,()]+),\s*(?P<label>\w+)\)$")


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels") or [])


def dashboard_queries(document: dict[str, Any]) -> list[PanelQuery]:
    """Every PromQL expression of a dashboard: panel targets, annotations, and the series
    selector inside ``label_values(...)`` variable queries."""
    uid = document["uid"]
    found: list[PanelQuery] = []
    for panel in _panels(document.get("panels") or []):
        for target in panel.get("targets") or []:
            found.append(PanelQuery(uid, panel.get("title", ""), target["expr"], "panel"))
    for annotation in (document.get("annotations") or {}).get("list") or []:
        if annotation.get("expr"):
            found.append(
                PanelQuery(
                    uid, f"annotation:{annotation['name']}", annotation["expr"], "annotation"
                )
            )
    for variable in (document.get("templating") or {}).get("list") or []:
        if variable.get("type") == "query":
            match = _LABEL_VALUES.match(str(variable.get("query", "")))
            if match is None:
                raise ValueError(f"{uid}: variable {variable['name']}: unsupported query")
            found.append(
                PanelQuery(uid, f"variable:{variable['name']}", match["metric"].strip(), "variable")
            )
    return found
