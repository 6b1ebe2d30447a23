"""The drill-down's line in ``make bench``'s memory table (bench/drilldown_memory.py)."""

from __future__ import annotations

from bench.drilldown_memory import full_drilldown
from bench.report import format_table, render_markdown


def test_full_drilldown_is_bounded_by_n_and_grows_with_it() -> None:
    small = full_drilldown(queues=3, length=5, waiting=2, agents=2)
    large = full_drilldown(queues=3, length=40, waiting=2, agents=2)
    assert small["length"] == 5 and large["length"] == 40
    assert 0 < small["bytes"] < large["bytes"]
    # the lists, not the events applied, set the size: 8x the entries, well under 8x + agents
    assert large["bytes"] < 8 * small["bytes"]


def test_the_report_names_the_figure() -> None:
    case = full_drilldown(queues=2, length=3, waiting=1, agents=1)
    results = {"memory": {"drilldown": {**case, "queues": 1000}}}
    assert any("drill-down state, 1,000 queues at N=3" in row for row in format_table(results))
    assert "drill-down state, 1,000 queues at N=3" in render_markdown(results, "")
