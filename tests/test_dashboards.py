"""The Grafana dashboards as code: committed JSON up to date, every query valid PromQL on metrics
the worker exports, colours taken from the alert rules, provisioning files consistent."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from dashboards.build import BOARDS, GENERATED_DIR, dashboard_queries, render, stale_files
from dashboards.panels import DATASOURCE_UID
from processors.alert_rules import AlertRule
from processors.default_alert_rules import default_rules
from processors.settings import EngineSettings
from processors.snapshot import LiveKpis, QueueSnapshot, WindowKpis
from processors.thresholds import band_steps, colour_of, kpi_bands, preferred_window
from processors.wallboard import DETAIL_TILES, TILES, queue_tiles, tile_window
from streams.config import load_config
from streams.views.metrics_catalog import metric_names

ROOT = Path(__file__).resolve().parents[1]

# What Grafana substitutes, with values of the right shape.
VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$queue": "billing",
    "$window": "15m",
}


def substitute(expr: str) -> str:
    for name in sorted(VARIABLES, key=len, reverse=True):
        expr = expr.replace(name, VARIABLES[name])
    assert "$" not in expr, f"unknown Grafana variable in {expr!r}"
    return expr


def metrics_in(expr: str) -> set[str]:
    """Every metric name a PromQL expression selects (vector and range selectors)."""
    names: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            names.add(node.name)
        elif isinstance(node, promql_parser.MatrixSelector):
            names.add(node.vector_selector.name)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def test_committed_json_is_what_the_code_generates() -> None:
    stale = stale_files(GENERATED_DIR)
    assert stale == [], f"regenerate with `make dashboards`: {stale}"
    assert sorted(p.stem for p in GENERATED_DIR.glob("*.json")) == sorted(BOARDS)


def test_the_default_configuration_generates_the_committed_json() -> None:
    config = load_config(None)
    assert stale_files(GENERATED_DIR, config.alerts.effective_rules(), config.engine.windows) == []


def test_every_query_is_promql_on_exported_metrics() -> None:
    exported = metric_names()
    used: set[str] = set()
    count = 0
    for document in render().values():
        for query in dashboard_queries(document):
            expr = substitute(query.expr)
            try:
                names = metrics_in(expr)
            except ValueError as error:
                pytest.fail(f"{query.dashboard} / {query.panel}: {error}: {expr}")
            assert names, f"{query.dashboard} / {query.panel} selects no metric: {expr}"
            unknown = names - exported
            assert not unknown, f"{query.dashboard} / {query.panel}: not exported: {unknown}"
            used |= names
            count += 1
    assert count >= 80
    # The boards cover the catalogue's families, not a handful of series.
    for family in ("ccpulse_queue_", "ccpulse_window_", "ccpulse_events", "ccpulse_alert_"):
        assert any(name.startswith(family) for name in used), family


def test_a_parse_error_is_caught() -> None:
    with pytest.raises(ValueError):
        metrics_in("sum by (queue) (ccpulse_queue_backlog")


def test_dashboards_have_stable_uids_unique_panel_ids_and_one_datasource() -> None:
    uids = set()
    for stem, document in render().items():
        uids.add(document["uid"])
        ids: list[int] = []
        stack = list(document["panels"])
        while stack:
            panel = stack.pop()
            ids.append(panel["id"])
            stack.extend(panel.get("panels") or [])
            for target in panel.get("targets") or []:
                assert target["datasource"]["uid"] == DATASOURCE_UID, (stem, panel["title"])
            if panel["type"] != "row":
                assert panel["datasource"]["uid"] == DATASOURCE_UID
        assert len(ids) == len(set(ids)), stem
        assert document["uid"].startswith("ccpulse-")
        annotations = document["annotations"]["list"]
        assert any("ccpulse_alert_firing" in a.get("expr", "") for a in annotations), stem
    assert len(uids) == len(BOARDS)


def _panel(document: dict[str, Any], title: str) -> dict[str, Any]:
    found = [p for p in document["panels"] if p.get("title") == title]
    assert len(found) == 1, (title, [p.get("title") for p in document["panels"]])
    return found[0]


def _rule(kpi: str) -> AlertRule:
    return next(r for r in default_rules() if r.kpi == kpi)


def test_wallboard_tiles_are_coloured_from_the_rules() -> None:
    windows = EngineSettings().windows
    wallboard = render()["wallboard"]
    sl = _rule("service_level")
    window = preferred_window(default_rules(), "service_level", windows)
    assert window == sl.window
    steps = _panel(wallboard, f"Service level ({window})")["fieldConfig"]["defaults"]["thresholds"]
    # below: red under fire, amber between fire and clear, green from clear on
    assert steps["steps"] == [
        {"color": "red", "value": None},
        {"color": "orange", "value": sl.fire},
        {"color": "green", "value": sl.clear},
    ]
    wait = _rule("oldest_wait_seconds")
    steps = _panel(wallboard, "Oldest wait")["fieldConfig"]["defaults"]["thresholds"]
    assert steps["steps"] == [
        {"color": "green", "value": None},
        {"color": "orange", "value": wait.clear},
        {"color": "red", "value": wait.fire},
    ]
    # A KPI no rule watches gets no judgement colour.
    calls = _panel(wallboard, "Calls waiting")
    assert calls["fieldConfig"]["defaults"]["thresholds"]["steps"] == [
        {"color": "text", "value": None}
    ]
    assert calls["options"]["colorMode"] == "value"
    repeated = [p for p in wallboard["panels"] if p.get("repeat") == "queue"]
    assert len(repeated) == 1 and repeated[0]["type"] == "row"


def test_wallboard_shows_the_queue_views_second_row_under_the_big_tiles() -> None:
    """Issue 22: callbacks, flow-outs, transfers, self-service and the ticket SLAs on the Grafana
    wallboard too, titled by the registry, each on its own KPI's series, below the big tiles."""
    windows = EngineSettings().windows
    wallboard = render()["wallboard"]
    lowest_big = max(
        _panel(wallboard, _tile_title(tile, windows))["gridPos"]["y"] for tile in TILES
    )
    for tile in DETAIL_TILES:
        window = tile_window(tile, default_rules(), windows)
        panel = _panel(wallboard, _tile_title(tile, windows))
        (target,) = panel["targets"]
        family = "window" if tile.windowed else "queue"
        assert metrics_in(substitute(target["expr"])) == {f"ccpulse_{family}_{tile.kpi}"}
        if window is not None:
            assert f'window="{window}"' in target["expr"]
        assert panel["gridPos"]["y"] > lowest_big
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24


def _tile_title(tile: Any, windows: Any) -> str:
    window = tile_window(tile, default_rules(), windows)
    return f"{tile.title} ({window})" if window else tile.title


def test_bands_follow_rule_direction_and_hysteresis() -> None:
    above = AlertRule(name="a", kpi="asa_seconds", window="15m", fire=60, clear=45)
    bands = kpi_bands([above], "asa_seconds", "15m")
    assert bands is not None
    assert [colour_of(v, bands) for v in (10, 45, 50, 60, 61)] == [
        "green",
        "green",
        "amber",
        "amber",
        "red",
    ]
    below = AlertRule(
        name="b", kpi="service_level", window="15m", direction="below", fire=0.7, clear=0.8
    )
    bands = kpi_bands([below], "service_level", "15m")
    assert bands is not None
    assert [colour_of(v, bands) for v in (0.5, 0.7, 0.75, 0.8, 0.9)] == [
        "red",
        "amber",
        "amber",
        "green",
        "green",
    ]
    assert colour_of(None, bands) == "none"
    no_gap = AlertRule(name="c", kpi="backlog", fire=10, clear=10)
    steps = band_steps(kpi_bands([no_gap], "backlog", None))  # type: ignore[arg-type]
    assert steps == [(None, "green"), (10, "red")]


def test_queue_patterns_and_several_rules_pick_the_most_sensitive_thresholds() -> None:
    rules = [
        AlertRule(name="all", kpi="backlog", fire=300, clear=250),
        AlertRule(name="vip", kpi="backlog", fire=50, clear=40, queues=["vip-*"]),
    ]
    everywhere = kpi_bands(rules, "backlog", None)
    vip = kpi_bands(rules, "backlog", None, queue="vip-gold")
    other = kpi_bands(rules, "backlog", None, queue="billing")
    assert everywhere is not None and (everywhere.red, everywhere.amber) == (300, 250)
    assert vip is not None and (vip.red, vip.amber) == (50, 40)
    assert vip.rules == ("all", "vip")
    assert other == everywhere
    assert kpi_bands(rules, "calls_waiting", None) is None


def _snapshot(**live: Any) -> QueueSnapshot:
    window = WindowKpis(answered=40, abandoned=10, service_level=0.5, abandon_rate=0.2)
    return QueueSnapshot(
        queue="billing",
        at=1_800_000_000.0,
        live=LiveKpis(**live),
        windows={"15m": window},
    )


def test_queue_tiles_values_colours_and_firing() -> None:
    snapshot = _snapshot(calls_waiting=3, agents={"available": 2, "on_call": 5}, backlog=12)
    tiles = {t.key: t for t in queue_tiles(snapshot, default_rules(), ["5m", "15m"])}
    assert [t.key for t in TILES] == list(tiles)
    assert tiles["agents_available"].value == 2
    assert tiles["calls_waiting"].colour == "none"
    assert tiles["service_level"].window == "15m"
    assert tiles["service_level"].colour == "red"  # 50 % < the rule's 70 %
    assert tiles["service_level"].text == "50 %"
    assert tiles["abandon_rate"].colour == "red"
    assert tiles["asa_seconds"].value is None and tiles["asa_seconds"].colour == "none"
    assert tiles["backlog"].colour == "green" and not tiles["backlog"].firing
    # A firing alert turns its tile red even when the value sits in the hysteresis band.
    firing = queue_tiles(snapshot, default_rules(), ["15m"], [("backlog", None)])
    backlog = next(t for t in firing if t.key == "backlog")
    assert backlog.firing and backlog.colour == "red"


def test_provisioning_matches_the_dashboards() -> None:
    provisioning = ROOT / "deploy" / "grafana" / "provisioning"
    datasources = yaml.safe_load((provisioning / "datasources" / "ccpulse.yaml").read_text())
    (source,) = datasources["datasources"]
    assert source["uid"] == DATASOURCE_UID and source["type"] == "prometheus"
    providers = yaml.safe_load((provisioning / "dashboards" / "ccpulse.yaml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file" and provider["folderUid"] == "ccpulse"
    mount = re.search(
        r"dashboards/generated:(\S+?):ro",
        (provisioning / "dashboards" / "ccpulse.yaml").read_text(),
    )
    assert mount is not None and mount.group(1) == provider["options"]["path"]
