"""processors/kpis.py: one entry per KPI the engine reports, and docs/kpis.md's table from it."""

from __future__ import annotations

import re
from pathlib import Path

from processors.default_alert_rules import default_rules
from processors.kpis import KPIS, kpi, snapshot_fields, summary_table, with_summary_table
from processors.snapshot import STAFFING_FIELDS, LiveKpis, QueueSnapshot, WindowKpis
from processors.wallboard import queue_tiles

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_kpi_the_engine_reports_has_one_entry_of_its_kind() -> None:
    names = [entry.name for entry in KPIS]
    assert len(names) == len(set(names)), "a KPI listed twice"
    missing = [(kind, name) for kind, name in snapshot_fields() if name not in names]
    assert missing == [], f"add these to processors/kpis.py: {missing}"
    for kind, name in snapshot_fields():
        assert kpi(name).kind == kind, name
    # Nothing else: an entry that is no snapshot field must say which breakdown it is part of.
    fields = set(WindowKpis.__struct_fields__) | set(LiveKpis.__struct_fields__)
    extra = {e.name: e.part_of for e in KPIS if e.name not in fields}
    assert extra == {"agents_available": "agents"}
    assert kpi("agents").breakdown == "state"


def test_the_staffing_entries_are_the_staffing_fields() -> None:
    assert tuple(e.name for e in KPIS if e.doc == "staffing") == STAFFING_FIELDS


def test_breakdowns_are_exactly_the_dict_fields() -> None:
    dict_fields = {
        f for f in LiveKpis.__struct_fields__ if isinstance(getattr(LiveKpis(), f), dict)
    }
    assert {e.name for e in KPIS if e.breakdown is not None} == dict_fields


def test_units_match_the_values() -> None:
    window = WindowKpis()
    for entry in KPIS:
        if entry.kind == "window" and entry.unit == "count":
            assert isinstance(getattr(window, entry.name), int), entry.name
    assert kpi("abandon_rate").unit == "rate" and kpi("asa_seconds").unit == "seconds"
    assert kpi("nps").unit == "score" and kpi("service_level").better == "higher"


def test_every_entry_has_a_definition_in_the_docs() -> None:
    headings: dict[str, set[str]] = {}
    for page in ("kpis", "staffing"):
        text = (DOCS / f"{page}.md").read_text(encoding="utf-8")
        headings[page] = set(re.findall(r"^### (\w+)$", text, flags=re.MULTILINE))
    undocumented = [e.anchor for e in KPIS if e.part_of is None and e.name not in headings[e.doc]]
    assert undocumented == []


def test_the_docs_table_is_generated_from_the_registry() -> None:
    text = (DOCS / "kpis.md").read_text(encoding="utf-8")
    assert with_summary_table(text) == text, (
        "docs/kpis.md's KPI table is stale: run `ccpulse kpis --write-docs docs/kpis.md`"
    )
    assert len(summary_table().splitlines()) == 2 + len(KPIS)


def test_wallboard_tiles_take_title_and_unit_from_the_registry() -> None:
    snapshot = QueueSnapshot(queue="q", at=0.0, live=LiveKpis(), windows={"15m": WindowKpis()})
    tiles = queue_tiles(snapshot, [], ["15m"])
    assert [(t.key, t.title, t.unit) for t in tiles][2:5] == [
        ("service_level", "Service level", "rate"),
        ("abandon_rate", "Abandonment", "rate"),
        ("asa_seconds", "ASA", "seconds"),
    ]
    assert all((t.title, t.unit) == (kpi(t.key).label, kpi(t.key).unit) for t in tiles)


def test_default_rules_page_on_the_bad_side_of_each_kpi() -> None:
    bad_side = {"lower": "above", "higher": "below"}
    directions = {rule.kpi: rule.direction for rule in default_rules()}
    assert directions == {name: bad_side[kpi(name).better] for name in directions}
    assert len(directions) == 8
