"""``ccpulse report`` against ``ccpulse replay`` on the golden data: the simulator's events for
three fixed hours (seed 7), the file the command reads with ``--events-file``.

Each 15-minute and 1-hour row must equal ``replay`` at the row's last second over a window of
the row's length (W = (at - L, at]: exactly the row's seconds): the command combines the
15-minute records' counters, replay sums the events; an average of rates would not agree.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
import pytest

from processors.settings import EngineSettings
from streams.cli import main
from streams.offline.audit import file_events
from streams.offline.replay import replay_events, replay_settings
from streams.offline.report import replay_intervals
from tests.test_worker_integration import simulate_jsonl

START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # a Monday


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("golden") / "events.jsonl"
    simulate_jsonl(path, START, 3 * 3600, seed=7)
    return path


def report(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["report", *args]) == 0
    return capsys.readouterr().out


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)
    return a == b


# The last quarter of the data (10:45-11:00) is not closed: the 1 h rows stop before its hour.
@pytest.mark.parametrize(
    "interval,window,to", [("15m", "15m", "2026-11-23"), ("1h", "1h", "2026-11-23T10:00:00Z")]
)
def test_report_rows_equal_replay_over_each_row(
    golden: Path, capsys: pytest.CaptureFixture[str], interval: str, window: str, to: str
) -> None:
    span = ("--events-file", str(golden), "--from", "2026-11-23", "--to", to)
    out = report(capsys, *span, "--interval", interval, "--format", "json")
    rows = json.loads(out)
    queues = {row["queue"] for row in rows}
    assert len(queues) >= 3 and len(rows) >= 2 * len(queues)
    events = file_events(golden)
    settings = replay_settings(EngineSettings(), window)
    checked = 0
    for row in rows:
        end = datetime.fromisoformat(row["interval_end"].replace("Z", "+00:00"))
        at = int(end.timestamp()) - 1
        replayed = replay_events(events, settings, at, window).document()["queues"][row["queue"]]
        wrong = {
            name: (row[name], value)
            for name, value in replayed.items()
            if name in row and not _same(row[name], value)
        }
        assert not wrong, f"{row['queue']} {row['interval_start']}: report != replay: {wrong}"
        checked += 1
    assert checked == len(rows)


def test_csv_has_the_header_and_one_row_per_queue_and_interval(
    golden: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    span = ("--from", "2026-11-23T08:00:00Z", "--to", "2026-11-23T09:00:00Z")
    out = report(capsys, "--events-file", str(golden), *span, "--queues", "*", "--format", "csv")
    table = list(csv.reader(io.StringIO(out)))
    assert table[0][:4] == ["queue", "interval_start", "interval_end", "entered"]
    starts = {row[1] for row in table[1:]}
    assert starts == {f"2026-11-23T08:{m:02d}:00Z" for m in (0, 15, 30, 45)}


def test_business_hours_keep_only_open_quarters(
    golden: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def starts(hours: str) -> set[str]:
        out = report(
            capsys,
            *("--events-file", str(golden), "--from", "2026-11-23", "--to", "2026-11-23"),
            *("--business-hours", hours, "--format", "json"),
        )
        return {row["interval_start"][11:16] for row in json.loads(out)}

    assert starts("mon-fri 08:30-09:30") == {"08:30", "08:45", "09:00", "09:15"}
    assert starts("sat-sun 08:00-18:00") == set()


def test_api_intervals_rows_equal_the_report_of_the_same_events(golden: Path) -> None:
    """/api/intervals computes today's rows from the worker's state: the closed ones equal
    the report's rows, and the open one is the interval so far."""
    from types import SimpleNamespace

    from processors.engine import KpiEngine
    from streams.offline.report import records_of
    from streams.views.intervals import interval_rows

    events = [e for e in file_events(golden) if hasattr(e, "queue")]
    engine = KpiEngine(EngineSettings())
    engine.apply_all(events)
    now = int(max(e.time.timestamp() for e in events))
    runtime = SimpleNamespace(engine=engine, clock=lambda queue=None: float(now))
    from processors.reports import report_rows

    values = replay_intervals(events, EngineSettings())
    expected = {
        (r.queue, r.start): msgspec.structs.asdict(r.kpis)
        for r in report_rows(records_of(values.values()), "15m", ZoneInfo("UTC"), 0, 2**40)
    }
    checked = 0
    for queue in engine.queues:
        rows = interval_rows(runtime, queue, int(START.timestamp()), now + 1)
        assert rows[-1].end == now + 1  # the open interval, so far
        for row in rows:
            if (queue, row.start) in expected:
                assert msgspec.structs.asdict(row.kpis) == expected[(queue, row.start)]
                checked += 1
    assert checked == len(expected) > 0


def test_the_documented_json_schema_names_every_field_of_a_record(golden: Path) -> None:
    """docs/schemas/interval-v1.json (docs/events.md) against a real record: the same fields,
    each of the documented type."""
    schema = json.loads((Path(__file__).parents[1] / "docs/schemas/interval-v1.json").read_text())
    values = replay_intervals(file_events(golden), EngineSettings())
    channels = schema["properties"]["channels"]
    channel_parts = channels["additionalProperties"]["properties"]
    seen = set()
    for value in list(values.values())[:20]:
        record = json.loads(value)
        assert sorted(set(record) - {"channels"}) == sorted(schema["required"])
        parts = [(record, "kpis", schema), (record, "counters", schema)]
        for channel, figures in record["channels"].items():  # the golden file's contacts
            assert re.fullmatch(channels["propertyNames"]["pattern"], channel)
            parts += [(figures, "kpis", channels["additionalProperties"])]
            parts += [(figures, "counters", channels["additionalProperties"])]
            seen.add(channel)
        for document, part, where in parts:
            properties = where["properties"][part]["properties"]
            assert sorted(document[part]) == sorted(properties)
            for name, field_value in document[part].items():
                kinds = properties[name]["type"]
                kinds = kinds if isinstance(kinds, list) else [kinds]
                python = {"integer": int, "number": (int, float), "null": type(None)}
                assert isinstance(field_value, tuple(python[k] for k in kinds)), (name, field_value)
    assert seen and sorted(channel_parts) == ["counters", "kpis"]
