"""The built-in wallboard's document, routes and static files (no broker: the Faust app is built,
not started; the browser test is in tests/test_wallboard_integration.py)."""

from __future__ import annotations

import re
from importlib import resources
from types import SimpleNamespace
from typing import Any

from processors.default_alert_rules import default_rules
from processors.snapshot import LiveKpis, QueueSnapshot, WindowKpis
from streams.app import build_app
from streams.config import load_config
from streams.views.wallboard import firing_alerts, wallboard_document


def _runtime(alerts: Any = None) -> Any:
    snapshots = {
        name: QueueSnapshot(
            queue=name,
            at=1_800_000_000.0,
            live=LiveKpis(calls_waiting=2, backlog=backlog),
            windows={"15m": WindowKpis(answered=10, service_level=0.9, abandon_rate=0.0)},
        )
        for name, backlog in (("sales", 3), ("billing", 400))
    }
    runtime = SimpleNamespace(
        config=load_config(None),
        ready=True,
        snapshots=lambda: snapshots,
        clock=lambda: 1_800_000_000.0,
    )
    if alerts is not None:
        runtime.alerts = alerts
    return runtime


def test_document_without_an_alert_evaluator() -> None:
    document = wallboard_document(_runtime())
    assert [q["queue"] for q in document["queues"]] == ["billing", "sales"]
    assert document["alerts"] == []
    billing = {t.key: t for t in document["queues"][0]["tiles"]}
    # 400 tickets is past the default backlog rule's fire threshold: red by value alone.
    backlog_rule = next(r for r in default_rules() if r.kpi == "backlog")
    assert billing["backlog"].value > backlog_rule.fire
    assert billing["backlog"].colour == "red" and not billing["backlog"].firing
    assert document["at_iso"] == "2027-01-15T08:00:00Z"


def test_firing_alerts_mark_their_tiles_and_critical_comes_first() -> None:
    firing = [
        {
            "rule": "backlog_high",
            "queue": "sales",
            "severity": "warning",
            "kpi": "backlog",
            "window": None,
            "value": 3,
            "threshold": 300,
            "summary": "s",
            "since": 1.0,
        },
        {
            "rule": "abandon",
            "queue": "billing",
            "severity": "critical",
            "kpi": "abandon_rate",
            "window": "15m",
            "value": 0.3,
            "threshold": 0.1,
            "summary": "b",
            "since": 2.0,
        },
    ]
    document = wallboard_document(_runtime(SimpleNamespace(firing=lambda: firing)))
    assert [a["rule"] for a in document["alerts"]] == ["abandon", "backlog_high"]
    sales = {t.key: t for t in document["queues"][1]["tiles"]}
    assert sales["backlog"].firing and sales["backlog"].colour == "red"
    billing = {t.key: t for t in document["queues"][0]["tiles"]}
    assert billing["abandon_rate"].firing and billing["abandon_rate"].colour == "red"
    assert not billing["service_level"].firing


def test_a_broken_alert_evaluator_does_not_break_the_page() -> None:
    def broken() -> list[dict[str, Any]]:
        raise RuntimeError("state lost")

    assert firing_alerts(_runtime(SimpleNamespace(firing=broken))) == []


def test_the_wallboard_owns_the_root_and_faust_applies_its_blueprints() -> None:
    app, _ = build_app(load_config(None))
    views = set(app.web.views)
    assert {"/", "/api/kpis/stream", "/api/wallboard", "/static/{name}", "/metrics"} <= views
    # Faust's own index also mounts at "/": applying the blueprints must not clash with ours.
    app.web.blueprints.apply(app.web)
    routes = [r for r in app.web.web_app.router.routes() if r.method == "GET"]
    roots = [r for r in routes if r.resource is not None and r.resource.canonical == "/"]
    assert len(roots) == 1


def test_static_files_work_offline() -> None:
    static = resources.files("streams.views.wallboard").joinpath("static")
    index = static.joinpath("index.html").read_text()
    for name in ("wallboard.css", "wallboard.js"):
        assert f"/static/{name}" in index
    for name in ("index.html", "wallboard.css", "wallboard.js"):
        text = static.joinpath(name).read_text()
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text), name  # no CDN
    script = static.joinpath("wallboard.js").read_text()
    assert 'new EventSource("/api/kpis/stream")' in script
