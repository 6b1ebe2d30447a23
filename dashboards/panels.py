"""Panel, variable and annotation builders shared by the ccpulse dashboards.

Thin wrappers over grafana-foundation-sdk's builders (classic dashboard JSON, the schema
Grafana's ``/api/dashboards/db`` and file provisioning accept), so every board uses the same
datasource, units, colours and text sizes. Colours come from :mod:`processors.thresholds`: the
same bands the alert rules define and the built-in wallboard page uses.
"""

from __future__ import annotations

import warnings
from typing import Any

from processors.kpis import kpi
from processors.thresholds import KpiBands, band_steps

with warnings.catch_warnings():
    # The classic dashboard builder warns that the v2 schema exists; v2 needs Grafana 12's new
    # API, while the classic JSON works with file provisioning and /api/dashboards/db everywhere.
    warnings.simplefilter("ignore", DeprecationWarning)
    from grafana_foundation_sdk.builders import bargauge, stat, table, timeseries
    from grafana_foundation_sdk.builders.common import (
        GraphThresholdsStyleConfig,
        ReduceDataOptions,
        VizLegendOptions,
        VizTextDisplayOptions,
    )
    from grafana_foundation_sdk.builders.dashboard import (
        AnnotationQuery,
        CustomVariable,
        Dashboard,
        FieldColor,
        QueryVariable,
        Row,
        ThresholdsConfig,
    )
    from grafana_foundation_sdk.builders.prometheus import Dataquery
    from grafana_foundation_sdk.models.common import (
        BigValueColorMode,
        BigValueGraphMode,
        BigValueJustifyMode,
        BigValueTextMode,
        GraphThresholdsStyleMode,
        LegendDisplayMode,
        LegendPlacement,
    )
    from grafana_foundation_sdk.models.dashboard import (
        DataSourceRef,
        FieldColorModeId,
        Threshold,
        ThresholdsMode,
        VariableOption,
        VariableRefresh,
        VariableSort,
    )
    from grafana_foundation_sdk.models.prometheus import PromQueryFormat

__all__ = [
    "DATASOURCE",
    "DATASOURCE_UID",
    "RATE_INTERVAL",
    "Dashboard",
    "Row",
    "abandoned_calls_columns",
    "alert_annotation",
    "bar_gauge",
    "base_dashboard",
    "kpi_description",
    "kpi_stat",
    "query",
    "queue_variable",
    "stat_panel",
    "table_panel",
    "timeseries_panel",
    "unit_for",
    "window_variable",
]

DATASOURCE_UID = "ccpulse-prometheus"
"""The Prometheus datasource every panel uses; provisioned and pushed with this uid."""
DATASOURCE = DataSourceRef(type_val="prometheus", uid=DATASOURCE_UID)
RATE_INTERVAL = "$__rate_interval"

_GRAFANA_COLOUR = {"green": "green", "amber": "orange", "red": "red", "none": "text"}

_UNITS = {"rate": "percentunit", "seconds": "s", "count": "none", "score": "none", "agents": "none"}


def unit_for(kind: str) -> str:
    """The Grafana unit of a registry unit (:data:`processors.kpis.Unit`)."""
    return _UNITS[kind]


def kpi_description(name: str, note: str = "") -> str:
    """A KPI's one-sentence definition from the registry, a panel's own ``note``, and where
    the full definition is."""
    entry = kpi(name)
    return " ".join(part for part in (entry.description, note, f"({entry.anchor})") if part)


def kpi_stat(
    name: str,
    targets: list[Dataquery],
    *,
    window: str | None = None,
    note: str = "",
    **options: Any,
) -> stat.Panel:
    """A :func:`stat_panel` of one KPI: its title (short form), unit and description from the
    registry (:mod:`processors.kpis`); ``window`` is appended to the title."""
    entry = kpi(name)
    title = f"{entry.label} ({window})" if window else entry.label
    return stat_panel(
        title,
        targets,
        unit=unit_for(entry.unit),
        description=kpi_description(name, note),
        **options,
    )


def query(expr: str, legend: str = "", instant: bool = False, ref: str = "A") -> Dataquery:
    target = Dataquery().expr(expr).ref_id(ref).datasource(DATASOURCE)
    if legend:
        target = target.legend_format(legend)
    if instant:
        target = target.instant()
    return target


def _thresholds(bands: KpiBands | None) -> ThresholdsConfig:
    steps = (
        [Threshold(value=v, color=_GRAFANA_COLOUR[c]) for v, c in band_steps(bands)]
        if bands is not None
        else [Threshold(value=None, color="text")]
    )
    return ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(steps)


def stat_panel(
    title: str,
    targets: list[Dataquery],
    unit: str = "none",
    bands: KpiBands | None = None,
    width: int = 4,
    height: int = 5,
    value_size: float | None = None,
    description: str = "",
    repeat: str | None = None,
    name_and_value: bool = False,
    no_value: str = "n/a",
    decimals: int | None = None,
) -> stat.Panel:
    """Big numbers; background coloured by ``bands`` when a rule watches the KPI."""
    panel = (
        stat.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .unit(unit)
        .decimals(decimals if decimals is not None else (1 if unit == "percentunit" else 0))
        .thresholds(_thresholds(bands))
        .color_scheme(FieldColor().mode(FieldColorModeId.THRESHOLDS))
        .color_mode(BigValueColorMode.BACKGROUND if bands else BigValueColorMode.VALUE)
        .graph_mode(BigValueGraphMode.NONE)
        .justify_mode(BigValueJustifyMode.CENTER)
        .text_mode(BigValueTextMode.VALUE_AND_NAME if name_and_value else BigValueTextMode.VALUE)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .no_value(no_value)
        .span(width)
        .height(height)
    )
    if value_size is not None:
        panel = panel.text(VizTextDisplayOptions().value_size(value_size).title_size(18))
    if description:
        panel = panel.description(description)
    if repeat:
        panel = panel.repeat(repeat)
    for target in targets:
        panel = panel.with_target(target)
    return panel


def bar_gauge(
    title: str,
    targets: list[Dataquery],
    unit: str = "none",
    bands: KpiBands | None = None,
    width: int = 8,
    height: int = 7,
    description: str = "",
) -> bargauge.Panel:
    panel = (
        bargauge.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .unit(unit)
        .min(0)
        .thresholds(_thresholds(bands))
        .color_scheme(
            FieldColor().mode(
                FieldColorModeId.THRESHOLDS if bands else FieldColorModeId.PALETTE_CLASSIC
            )
        )
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .span(width)
        .height(height)
    )
    if description:
        panel = panel.description(description)
    for target in targets:
        panel = panel.with_target(target)
    return panel


def timeseries_panel(
    title: str,
    targets: list[Dataquery],
    unit: str = "none",
    bands: KpiBands | None = None,
    width: int = 12,
    height: int = 8,
    description: str = "",
    stacked: bool = False,
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .unit(unit)
        .line_width(2)
        .fill_opacity(10 if not stacked else 60)
        .span_nulls(False)
        .legend(
            VizLegendOptions()
            .display_mode(LegendDisplayMode.LIST)
            .placement(LegendPlacement.BOTTOM)
            .show_legend(True)
        )
        .span(width)
        .height(height)
    )
    if bands is not None:
        panel = panel.thresholds(_thresholds(bands)).thresholds_style(
            GraphThresholdsStyleConfig().mode(GraphThresholdsStyleMode.DASHED)
        )
    if description:
        panel = panel.description(description)
    for target in targets:
        panel = panel.with_target(target)
    return panel


def table_panel(
    title: str,
    targets: list[Dataquery],
    width: int = 24,
    height: int = 6,
    description: str = "",
    no_value: str = "",
) -> table.Panel:
    panel = table.Panel().title(title).datasource(DATASOURCE).span(width).height(height)
    if no_value:
        panel = panel.no_value(no_value)
    if description:
        panel = panel.description(description)
    for target in targets:
        panel = panel.with_target(target.format(PromQueryFormat.TABLE))
    return panel


def abandoned_calls_columns(panel: table.Panel) -> table.Panel:
    """The abandoned-calls table: latest first, the value shown as the hang-up time, Grafana's
    own time column hidden."""
    from grafana_foundation_sdk.builders.common import TableSortByFieldState
    from grafana_foundation_sdk.models.dashboard import DataTransformerConfig, DynamicConfigValue

    organize = {
        "excludeByName": {"Time": True},
        "indexByName": {"Value": 0, "caller": 1, "wait_seconds": 2, "recovered": 3, "call_id": 4},
        "renameByName": {
            "Value": "Hung up at",
            "caller": "Caller",
            "wait_seconds": "Waited (s)",
            "recovered": "Recovered",
            "call_id": "Call",
        },
    }
    return (
        panel.with_transformation(DataTransformerConfig(id_val="organize", options=organize))
        .override_by_name("Hung up at", [DynamicConfigValue(id_val="unit", value="dateTimeAsIso")])
        .sort_by([TableSortByFieldState().display_name("Hung up at").desc(True)])
    )


def queue_variable(multi: bool) -> QueryVariable:
    """The ``queue`` variable: every queue a worker exports (its live gauge always exists)."""
    variable = (
        QueryVariable("queue")
        .label("Queue")
        .datasource(DATASOURCE)
        .query("label_values(ccpulse_queue_calls_waiting, queue)")
        .definition("label_values(ccpulse_queue_calls_waiting, queue)")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(multi)
        .include_all(multi)
    )
    if multi:
        variable = variable.current(VariableOption(selected=True, text="All", value="$__all"))
    return variable


def window_variable(windows: list[str], default: str) -> CustomVariable:
    """The ``window`` variable: the windows the engine keeps (``engine.windows``)."""
    current = default if default in windows else windows[0]
    return (
        CustomVariable("window")
        .label("Window")
        .values(",".join(windows))
        .current(VariableOption(selected=True, text=current, value=current))
        .options([VariableOption(selected=w == current, text=w, value=w) for w in windows])
    )


def alert_annotation() -> AnnotationQuery:
    """Firing ccpulse alerts (``ccpulse_alert_firing``) as annotations on every time panel."""
    return (
        AnnotationQuery()
        .name("ccpulse alerts")
        .datasource(DATASOURCE)
        .enable(True)
        .icon_color("red")
        .expr("max by (rule, queue, severity) (ccpulse_alert_firing) > 0")
        .title_format("{{rule}} on {{queue}}")
        .text_format("{{severity}}")
        .tag_keys("rule,queue,severity")
        .step("15s")
        .use_value_for_time(False)
    )


def base_dashboard(uid: str, title: str, description: str, refresh: str = "10s") -> Dashboard:
    return (
        Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["ccpulse"])
        .refresh(refresh)
        .time("now-1h", "now")
        .timezone("browser")
        .readonly()
        .annotation(alert_annotation())
    )
