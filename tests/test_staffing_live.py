"""Live staffing: the engine's per-queue Erlang figures from the rolling window, and /metrics."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from processors.engine import KpiEngine
from processors.erlang_a import erlang_a, erlang_a_agents_required
from processors.erlang_c import erlang_c_agents_required
from processors.events import AgentStateChanged, CallEnded, CallExited, Event
from processors.settings import EngineSettings, QueueSettings
from processors.snapshot import STAFFING_FIELDS, LiveKpis
from processors.staffing import StaffingFigures
from streams.views.metrics import KpiCollector
from streams.views.metrics_catalog import STAFFING_METRICS, metric_names
from tests.test_kpi_golden import BASE, abandoned, answered, at, calls_for_service_level, eid
from tests.test_kpi_golden import entered as call_entered


def agent(t: float, name: str, state: str) -> AgentStateChanged:
    return AgentStateChanged(id=eid(), time=at(t), queue="q", agent=name, state=state)  # type: ignore[arg-type]


def ended(t: float, call: str, talk: float) -> CallEnded:
    return CallEnded(id=eid(), time=at(t), queue="q", call_id=call, talk_seconds=talk)


def test_patience_is_total_wait_of_all_exits_over_abandons() -> None:
    engine = KpiEngine(EngineSettings(windows=["15m"]))
    engine.apply_all(calls_for_service_level())
    kpis = engine.snapshot(BASE + 400)["q"].windows["15m"]
    # answered 10 + 20 + 20.001, abandoned 15 + 40, timed out 300 (the 3 s short abandon is
    # out of everything) = 405.001 s waited by the exits, over 2 abandons.
    assert kpis.patience_seconds == pytest.approx(405.001 / 2)


def busy_queue(agents: int, with_abandons: bool, calls: int = 50) -> list[Event]:
    """A call every 18 s from t = 1 (50 calls: the 15 minutes before t = 900), each handled in
    180 s (10 Erlangs); waits of 12 s; with_abandons: one call in 10 hangs up after 60 s."""
    events: list[Event] = [agent(-60, f"a{i}", "available") for i in range(agents)]
    for i in range(calls):
        t = 1 + 18 * i
        call = f"c{i}"
        events.append(call_entered(t, call))
        if with_abandons and i % 10 == 0:
            events.append(abandoned(t + 60, call))
        else:
            events.append(answered(t + 12, call))
            events.append(ended(t + 12 + 180, call, 180.0))
    return events


def test_engine_fills_the_staffing_fields_from_the_window() -> None:
    engine = KpiEngine(EngineSettings(windows=["5m", "15m"]))
    engine.apply_all(sorted(busy_queue(12, with_abandons=True), key=lambda e: e.time))
    now = BASE + 899 + 200  # the 15 minutes ending here hold the calls that entered at t >= 200
    snap = engine.snapshot(now)["q"]
    window = snap.windows["15m"]
    assert window.aht_seconds == 180.0 and window.abandoned > 0
    rate = window.entered / 900
    patience = window.patience_seconds
    assert patience is not None
    live = snap.live
    target = QueueSettings().sl_target
    assert live.agents_required_erlang_c == erlang_c_agents_required(
        rate * 180.0, 180.0, 20.0, target
    )
    required_a = erlang_a_agents_required(rate, 180.0, patience, 20.0, target)
    assert live.agents_required_erlang_a == required_a
    assert live.agents_short == (required_a or 0) - 12
    expected = erlang_a(12, rate, 180.0, patience, 20.0)
    assert live.predicted_service_level == expected.service_level
    assert live.predicted_abandon_rate == expected.abandon_rate
    assert live.predicted_asa_seconds == expected.asa_seconds
    # The what-if asks the same engine for another head count.
    what_if = engine.staffing("q", int(now), agents=20)
    assert what_if.agents == 20
    assert (
        what_if.predicted_service_level == erlang_a(20, rate, 180.0, patience, 20.0).service_level
    )


def test_a_quiet_queue_has_no_staffing_figures_and_no_series() -> None:
    engine = KpiEngine(EngineSettings(windows=["15m"]))
    engine.apply_all([agent(0, "a1", "available"), call_entered(5, "c1")])  # nothing handled
    live = engine.snapshot(BASE + 30)["q"].live
    assert all(getattr(live, name) is None for name in STAFFING_FIELDS)
    registry = CollectorRegistry()
    KpiCollector(lambda: engine.snapshot(BASE + 30), lambda: engine.queues).register(registry)  # type: ignore[arg-type]
    text = generate_latest(registry).decode()
    assert 'ccpulse_queue_calls_waiting{queue="q"} 1.0' in text
    for spec in STAFFING_METRICS:
        assert f"{spec.name}{{" not in text


def test_staffing_series_are_exported_when_known() -> None:
    engine = KpiEngine(EngineSettings(windows=["15m"]))
    engine.apply_all(sorted(busy_queue(14, with_abandons=False), key=lambda e: e.time))
    snaps = engine.snapshot(BASE + 1100)
    registry = CollectorRegistry()
    KpiCollector(lambda: snaps, lambda: engine.queues).register(registry)  # type: ignore[arg-type]
    text = generate_latest(registry).decode()
    live = snaps["q"].live
    assert live.predicted_abandon_rate is None  # nobody abandoned: no patience, Erlang C
    assert f'ccpulse_queue_agents_short{{queue="q"}} {live.agents_short}' in text
    assert "ccpulse_queue_predicted_abandon_rate{" not in text
    assert "ccpulse_window_patience_seconds" in metric_names()
    # Every staffing series carries the snapshot's value, and a figure that is None is absent.
    scraped = {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.labels == {"queue": "q"}
    }
    for name in STAFFING_FIELDS:
        value = getattr(live, name)
        assert scraped.get(f"ccpulse_queue_{name}") == value, name
    assert scraped["ccpulse_queue_agents_required_erlang_c"] >= 1


def test_the_staffing_fields_are_live_fields_and_figures() -> None:
    live: set[Any] = set(LiveKpis.__struct_fields__)
    figures = set(StaffingFigures.__struct_fields__)
    assert set(STAFFING_FIELDS) <= live and set(STAFFING_FIELDS) <= figures
    assert {spec.name for spec in STAFFING_METRICS} == {
        f"ccpulse_queue_{name}" for name in STAFFING_FIELDS
    }


def test_staffing_window_must_be_rolling() -> None:
    with pytest.raises(ValueError, match="staffing_window"):
        KpiEngine(EngineSettings(staffing_window="today"))
    # A staffing window longer than every KPI window: its panes are kept for it.
    engine = KpiEngine(EngineSettings(windows=["5m"], staffing_window="30m"))
    engine.apply_all(sorted(busy_queue(14, with_abandons=False), key=lambda e: e.time))
    snap = engine.snapshot(BASE + 1500)["q"]
    assert snap.windows["5m"].entered == 0
    # 50 calls in the 30 minutes, 180 s each: 5 Erlangs
    assert snap.live.agents_required_erlang_c == erlang_c_agents_required(5.0, 180.0, 20.0, 0.8)
    quiet = KpiEngine(EngineSettings(windows=["15m"]))
    quiet.apply_all(
        [call_entered(1, "x"), CallExited(id=eid(), time=at(2), queue="q", call_id="x")]
    )
    assert quiet.snapshot(BASE + 60)["q"].live.agents_required_erlang_c is None  # no AHT


def test_the_default_agents_short_rule_pages_an_understaffed_queue() -> None:
    from processors.alerts import AlertEvaluator
    from processors.default_alert_rules import default_rules

    [rule] = [r for r in default_rules() if r.kpi == "agents_short"]
    evaluator = AlertEvaluator([rule])
    engine = KpiEngine(EngineSettings(windows=["15m"]))
    # 10 Erlangs need 14 agents (Erlang C, nobody abandons); only 9 are logged in: 5 short.
    history = sorted(busy_queue(9, with_abandons=False, calls=120), key=lambda e: e.time)
    engine.apply_all([e for e in history if e.time.timestamp() - BASE <= 970])
    states = []
    for second in range(1000, 1400, 30):  # as a worker would: events up to now, then evaluate
        engine.apply_all([e for e in history if second - 30 < e.time.timestamp() - BASE <= second])
        snap = engine.snapshot(BASE + second)["q"]
        assert snap.live.agents_short == 5.0
        states += [(t.state, t.at - BASE) for t in evaluator.evaluate([snap], BASE + second)]
    assert states == [("pending", 1000), ("firing", 1300)]  # held for the rule's 5 minutes
    # A queue whose staffing is unknown (no figures) is never evaluated, so never pages.
    quiet = KpiEngine(EngineSettings(windows=["15m"]))
    quiet.apply_all([call_entered(1, "c1")])
    assert evaluator.evaluate([quiet.snapshot(BASE + 30)["q"]], BASE + 30) == []
