"""End to end: broker, worker, simulator and a real Prometheus (tests/wallboard_stack.py).

1. Every query of every committed dashboard, with its variables filled as Grafana fills them,
   returns data from Prometheus's HTTP API: no panel shows "No data".
2. The worker's built-in wallboard page in headless Chromium: every queue's tiles, a value that
   changes without a reload (server-sent events), and a tile that is red while an alert fires.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dashboards.build import BOARDS, GENERATED_DIR, dashboard_queries
from processors.wallboard import DETAIL_TILES, TILES
from tests.servers import require_binary
from tests.wallboard_stack import FIRING_QUEUE_RULE, Stack, simulator_queues
from tests.worker_proc import Broker

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
RATE_INTERVAL = "1m"
"""What Grafana puts in $__rate_interval for a 1 s scrape (at least four scrapes)."""


@pytest.fixture(scope="module")
def stack(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_binary("prometheus", "prometheus")
    running = Stack(tmp_path_factory.mktemp("wallboard"), broker, "wallboard", simulator_queues())
    try:
        running.start()
        running.wait_for_queues()
        running.wait_for_scrape()
        yield running
    finally:
        running.stop()


# -- 1. every dashboard query returns data ---------------------------------------------------


def label_values(stack: Stack, metric: str, label: str) -> list[str]:
    assert stack.prometheus is not None
    url = f"{stack.prometheus.url}/api/v1/label/{label}/values?" + urllib.parse.urlencode(
        {"match[]": metric}
    )
    with urllib.request.urlopen(url, timeout=10) as response:
        return sorted(json.load(response)["data"])


def variable_values(stack: Stack, document: dict[str, Any]) -> dict[str, str]:
    """Each variable's value as Grafana fills it on load: a multi-value query variable's "All"
    is the regex of every value, a single-value one takes its first value, a custom one its
    current value."""
    values = {}
    for variable in document.get("templating", {}).get("list", []):
        name = variable["name"]
        if variable["type"] == "query":
            metric = variable["query"].split("(", 1)[1].split(",", 1)[0].strip()
            found = label_values(stack, metric, name)
            assert found, f"variable {name}: no values from {variable['query']}"
            values[name] = "(" + "|".join(found) + ")" if variable.get("multi") else found[0]
        else:
            values[name] = variable["current"]["value"]
    return values


def repeated_titles(document: dict[str, Any]) -> set[str]:
    """Titles of the panels inside a row that repeats per queue."""
    titles, inside = set(), False
    for panel in document["panels"]:
        if panel["type"] == "row":
            inside = panel.get("repeat") == "queue"
        elif inside:
            titles.add(panel["title"])
    return titles


def fill(expr: str, values: dict[str, str]) -> str:
    expr = expr.replace("$__rate_interval", RATE_INTERVAL)
    for name in sorted(values, key=len, reverse=True):
        expr = expr.replace(f"${name}", values[name])
    assert "$" not in expr, expr
    return expr


def test_every_dashboard_query_returns_data(stack: Stack) -> None:
    assert stack.prometheus is not None and stack.sink is not None
    pending: dict[str, str] = {}
    for stem in BOARDS:
        document = json.loads((GENERATED_DIR / f"{stem}.json").read_text())
        values = variable_values(stack, document)
        repeated = repeated_titles(document)
        queues = label_values(stack, "ccpulse_queue_calls_waiting", "queue")
        for query in dashboard_queries(document):
            if query.kind == "variable":
                continue  # checked by variable_values: it has values
            # A panel in a per-queue row must have data for every queue, not just for one.
            fills = (
                [{**values, "queue": queue} for queue in queues]
                if query.panel in repeated
                else [values]
            )
            for filled in fills:
                label = f"{document['title']} / {query.panel} [{filled.get('queue', '')}]"
                pending[label] = fill(query.expr, filled)
    assert len(pending) >= 100
    every = dict(pending)
    # Rates need a few scrapes, alerts need their first notification: poll until all answer.
    deadline = time.monotonic() + 120
    while (left := unexplained(stack, every, pending)) and time.monotonic() < deadline:
        for label, expr in list(pending.items()):
            if stack.prometheus.query(expr):
                del pending[label]
        time.sleep(2)
    assert not left, "queries without data:\n" + "\n".join(
        f"{label}: {expr}" for label, expr in left.items()
    )


def unexplained(stack: Stack, every: dict[str, str], pending: dict[str, str]) -> dict[str, str]:
    """The queries still without data, less those of a rare KPI (a callback completed in the
    last 15 minutes) legitimately undefined on a quiet queue: accepted only where the engine
    itself has no value, and only for a panel with data on another queue (its query is right)."""
    if not pending:
        return {}
    answered = {label.rsplit(" [", 1)[0] for label in set(every) - set(pending)}
    kpis = stack.worker.kpis()["queues"]  # type: ignore[union-attr]
    return {
        label: expr
        for label, expr in pending.items()
        if label.rsplit(" [", 1)[0] not in answered or engine_value(kpis, expr) is not None
    }


def engine_value(kpis: dict[str, Any], expr: str) -> Any:
    """The engine's own value (``/api/kpis``) of the window KPI a panel's query reads (per
    channel: the first channel with one), or a marker that is not None when the query is not of
    one queue's window KPI."""
    metric = re.search(r"ccpulse_(channel_)?window_(\w+)\{", expr)
    queue = re.search(r'queue=~?"([\w-]+)"', expr)
    window = re.search(r'window="(\w+)"', expr)
    if not (metric and queue and window):
        return "not a window KPI of one queue"
    document = kpis.get(queue.group(1), {})
    name, label = metric.group(2), window.group(1)
    if metric.group(1):  # per channel: a value in any channel
        values = [w.get(label, {}).get(name) for w in document.get("channels", {}).values()]
        return next((v for v in values if v is not None), None)
    return document.get("windows", {}).get(label, {}).get(name, "no such KPI")


# -- 2. the built-in wallboard page in a real browser ----------------------------------------


def test_wallboard_page_is_live_and_colours_a_firing_alert(stack: Stack, output_dir: Path) -> None:
    require_binary(CHROMIUM, "chromium")
    from playwright.sync_api import sync_playwright

    assert stack.worker is not None
    queues = simulator_queues()
    firing_queue = queues[0]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            requested: list[str] = []
            page.on("request", lambda request: requested.append(request.url))
            page.goto(stack.worker.url + "/")

            # Every queue has its card with every tile, each showing a number or a dash.
            for queue in queues:
                page.wait_for_selector(f'section.queue[data-queue="{queue}"] .tile[data-colour]')
                tiles = page.locator(f'section.queue[data-queue="{queue}"] .tile')
                assert tiles.count() == len(TILES)
                keys = [tiles.nth(i).get_attribute("data-tile") for i in range(tiles.count())]
                assert keys == [t.key for t in TILES]
                for i in range(tiles.count()):
                    assert tiles.nth(i).locator(".value").inner_text().strip()

            # Values change with no reload: a marker set on the page survives, so the document
            # was never reloaded, and the updates came over the event stream (no polling).
            page.evaluate("window.__noReload = 'still here'")
            before = page.evaluate(_TILE_VALUES)
            page.wait_for_function(
                f"(before) => JSON.stringify({_TILE_VALUES}) !== JSON.stringify(before)",
                arg=before,
                timeout=30_000,
            )
            assert page.evaluate("window.__noReload") == "still here"
            assert page.locator("#link").inner_text() == "live"
            assert any(url.endswith("/api/kpis/stream") for url in requested)
            assert not any("/api/wallboard" in url for url in requested)
            navigations = page.evaluate("performance.getEntriesByType('navigation').length")
            assert navigations == 1

            # The test rule on the first queue's backlog fires: its tile is red and marked
            # firing, and the alert strip names the rule.
            backlog = f'section.queue[data-queue="{firing_queue}"] .tile[data-tile="backlog"]'
            page.wait_for_selector(f"{backlog}.firing", timeout=60_000)
            assert page.get_attribute(backlog, "data-colour") == "red"
            strip = page.locator(f'#alert-list li[data-rule="{FIRING_QUEUE_RULE}"]')
            assert strip.count() == 1
            assert strip.get_attribute("data-queue") == firing_queue
            assert "alerts-firing" in (page.get_attribute("#alerts", "class") or "")
            # A queue the rule does not cover is not red on that tile.
            other = f'section.queue[data-queue="{queues[1]}"] .tile[data-tile="backlog"]'
            assert page.get_attribute(other, "data-colour") != "red"
            assert "firing" not in (page.get_attribute(other, "class") or "")

            page.screenshot(path=str(output_dir / "wallboard.png"))
        finally:
            browser.close()
    assert (output_dir / "wallboard.png").stat().st_size > 10_000


_TILE_VALUES = (
    "Array.from(document.querySelectorAll('.tile')).map("
    "t => t.closest('section').dataset.queue + '/' + t.dataset.tile + '=' + "
    "t.querySelector('.value').textContent)"
)


# -- 3. the queue view, the clock, no overflow, TV mode ----------------------------------------

SIZES = [(1280, 720), (1920, 1080), (3840, 2160)]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "img"
"""Where ``CCPULSE_SCREENSHOTS=docs`` writes the README's pictures (else test-output/)."""

_OVERFLOWING = """() => Array.from(document.querySelectorAll(
    '.tile, .tile .value, .tile .label, .tile .sub, .tile .mark, .summary-item'))
  .filter(n => n.offsetParent !== null && n.scrollWidth > n.clientWidth)
  .map(n => (n.closest('section') || {dataset: {}}).dataset.queue + ' ' + n.className + ' '
    + JSON.stringify(n.textContent) + ' ' + n.scrollWidth + '>' + n.clientWidth)"""


def _picture(output_dir: Path, name: str) -> Path:
    import os

    return (SCREENSHOTS if os.environ.get("CCPULSE_SCREENSHOTS") == "docs" else output_dir) / name


def test_queue_view_clock_overflow_and_tv_mode(stack: Stack, output_dir: Path) -> None:
    require_binary(CHROMIUM, "chromium")
    from playwright.sync_api import sync_playwright

    assert stack.worker is not None
    queues = simulator_queues()
    queue = queues[0]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            page.goto(stack.worker.url + "/")
            for name in queues:
                page.wait_for_selector(f'section.queue[data-queue="{name}"] .tile[data-colour]')

            # The clock is the wall clock, not the simulator's event time (5x ahead), which is
            # shown apart as "data as of".
            shown = page.locator("#clock").inner_text()
            wall = page.evaluate(
                "new Date().getHours() * 3600 + new Date().getMinutes() * 60 "
                "+ new Date().getSeconds()"
            )
            hours, minutes, seconds = (int(part) for part in shown.split(":"))
            assert abs((hours * 3600 + minutes * 60 + seconds) - wall) % 86_400 <= 2, shown
            page.wait_for_selector("#data-as-of:not([hidden])")
            assert page.locator("#data-as-of").inner_text().startswith("data as of ")

            # States are told apart without colour: every coloured tile carries a word.
            marks = page.locator(".tile[data-colour=red] .mark, .tile[data-colour=green] .mark")
            assert marks.count() > 0
            assert all(
                marks.nth(i).inner_text().split()[-1] in ("OK", "ALERT")
                for i in range(marks.count())
            )

            # The queue whose alert fires flashes, and says so in words.
            alerting = f'section.queue.alerting[data-queue="{queue}"]'
            page.wait_for_selector(alerting, timeout=60_000)
            assert "ALERT" in page.locator(f"{alerting} .alert-mark").inner_text()
            # Exactly the queues the alert strip names flash (read in one go: no race).
            flashing, named = page.evaluate(
                "() => [Array.from(document.querySelectorAll('section.queue.alerting'))"
                ".map(c => c.dataset.queue).sort(), Array.from(new Set(Array.from("
                "document.querySelectorAll('#alert-list li')).map(l => l.dataset.queue))).sort()]"
            )
            assert flashing == named and queue in flashing

            # No tile overflows at any of the three sizes.
            for width, height in SIZES:
                page.set_viewport_size({"width": width, "height": height})
                page.wait_for_timeout(400)  # the resize observer refits on the next frame
                overflowing = page.evaluate(_OVERFLOWING)
                assert not overflowing, f"{width}x{height}: {overflowing}"
            page.set_viewport_size({"width": 1920, "height": 1080})

            # A click on a card opens its queue: waiting calls and agents.
            page.click(f'section.queue[data-queue="{queue}"]')
            page.wait_for_selector("#detail:not([hidden])")
            assert page.url.endswith(f"#queue={queue}")
            assert page.locator("#queues").is_hidden()
            page.wait_for_selector("#agents tbody tr[data-agent]", timeout=30_000)
            page.wait_for_selector("#waiting tbody tr[data-call]", timeout=60_000)
            waiting = page.locator("#waiting tbody tr[data-call]")
            caller = waiting.first.locator("td").nth(2).inner_text()
            assert caller == "\u2013" or caller.startswith("*"), caller  # masked by default
            assert page.locator("#detail-card .tile").count() == len(TILES)
            # The second row: every detail KPI, titled from the registry, with a value or a dash.
            page.wait_for_selector("#more tbody tr[data-kpi]")
            more = page.eval_on_selector_all(
                "#more tbody tr[data-kpi]",
                "rows => rows.map(r => [r.dataset.kpi, r.cells[0].textContent, r.cells[2].textContent])",
            )
            assert [key for key, _, _ in more] == [t.key for t in DETAIL_TILES]
            assert [title for _, title, _ in more] == [t.title for t in DETAIL_TILES]
            pending = next(value for key, _, value in more if key == "callbacks_pending")
            assert pending.lstrip("\u2713\u25b2\u2716 ").isdigit(), more

            # Time in state ticks without a new document.
            cell = page.locator("#agents tbody tr[data-agent] td.in-state").first
            agent = page.locator("#agents tbody tr[data-agent]").first.get_attribute("data-agent")
            before = cell.inner_text()
            page.wait_for_function(
                "([agent, before]) => { const c = document.querySelector("
                '`#agents tr[data-agent="${agent}"] td.in-state`);'
                " return c && c.textContent !== before; }",
                arg=[agent, before],
                timeout=10_000,
            )

            # Sortable: by agent name, then the other way round.
            page.click('#agents th[data-sort="agent"]')
            names = page.eval_on_selector_all(
                "#agents tbody tr[data-agent]", "rows => rows.map(r => r.dataset.agent)"
            )
            assert names == sorted(names)
            page.click('#agents th[data-sort="agent"]')
            names = page.eval_on_selector_all(
                "#agents tbody tr[data-agent]", "rows => rows.map(r => r.dataset.agent)"
            )
            assert names == sorted(names, reverse=True)
            page.wait_for_selector("#abandoned tbody tr[data-call]", timeout=60_000)
            for width, height in SIZES:
                page.set_viewport_size({"width": width, "height": height})
                page.wait_for_timeout(400)
                overflowing = page.evaluate(_OVERFLOWING)
                assert not overflowing, f"queue view {width}x{height}: {overflowing}"
            page.set_viewport_size({"width": 1920, "height": 1080})
            page.wait_for_timeout(400)
            page.screenshot(path=str(_picture(output_dir, "wallboard-queue.png")), full_page=True)

            # And back.
            page.click("#back")
            page.wait_for_selector("#queues:not([hidden])")
            assert page.locator("#detail").is_hidden()

            # TV mode: one group at a time (each pattern a group), rotating.
            first = queues[0]
            others = [name for name in queues if name.startswith("s")]
            assert others and not first.startswith("s")
            page.goto(f"{stack.worker.url}/?queues={first},s*&rotate=2s")
            page.wait_for_selector(f'section.queue[data-queue="{first}"]')
            assert page.locator("section.queue").count() == 1
            page.wait_for_selector(f'section.queue[data-queue="{others[0]}"]', timeout=10_000)
            assert page.locator("section.queue").count() == len(others)
            assert page.locator(f'section.queue[data-queue="{first}"]').count() == 0
            page.wait_for_selector(f'section.queue[data-queue="{first}"]', timeout=10_000)
            page.goto(f"{stack.worker.url}/?queues=*&rotate=600s")
            page.wait_for_selector(f'section.queue[data-queue="{queues[-1]}"] .tile[data-colour]')
            assert page.locator(".legend").is_hidden()
            page.wait_for_timeout(400)
            page.screenshot(path=str(_picture(output_dir, "wallboard-tv.png")))
            page.goto(f"{stack.worker.url}/")
            page.wait_for_selector("#summary:not([hidden])")
            total = page.locator("#summary .summary-item").first.locator(".value").inner_text()
            assert total == str(len(queues))

            # A phone.
            page.set_viewport_size({"width": 390, "height": 844})
            page.wait_for_timeout(400)
            assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
            assert not page.evaluate(_OVERFLOWING)
        finally:
            browser.close()


def test_drilldown_api_and_agent_series(stack: Stack) -> None:
    assert stack.worker is not None
    queue = simulator_queues()[0]

    def get(path: str) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(stack.worker.url + path, timeout=10) as response:
                body = response.read()
                kind = response.headers.get("Content-Type", "")
                return response.status, json.loads(body) if "json" in kind else body.decode()
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    status, body = get(f"/api/queues/{queue}")
    assert status == 200
    assert body["queue"] == queue and body["caller_numbers"] == "masked"
    assert body["agents"] and body["abandoned"]
    assert len(body["abandoned"]) <= body["length"] == 20
    for call in body["abandoned"]:
        assert call["caller"] is None or call["caller"][:-4].strip("*") == ""
    assert [w["position"] for w in body["waiting"]] == list(range(1, len(body["waiting"]) + 1))
    status, agents = get(f"/api/agents?queue={queue}")
    assert status == 200
    assert {a["agent"] for a in agents["agents"]} == {a["agent"] for a in body["agents"]}
    assert all(a["queues"] == [queue] for a in agents["agents"])
    assert get("/api/queues/no-such-queue")[0] == 404
    assert get("/api/agents?queue=no-such-queue")[0] == 404
    status, metrics = get("/metrics")
    abandoned = [
        line for line in metrics.splitlines() if line.startswith("ccpulse_queue_abandoned_call{")
    ]
    assert any(f'queue="{queue}"' in line for line in abandoned), abandoned[:3]
    assert "ccpulse_queue_agents_paused" in metrics
    assert "ccpulse_agent_state{" not in metrics  # metrics.per_agent is off by default
    # The agent families have a registry of their own (streams/views/routes.py): a scrape
    # naming one gets its rows and nothing of the KPI or pipeline families.
    status, only = get("/metrics?name[]=ccpulse_queue_abandoned_call")
    assert status == 200
    lines = [line for line in only.splitlines() if line and not line.startswith("#")]
    assert lines and all(line.startswith("ccpulse_queue_abandoned_call{") for line in lines)
    assert any(f'queue="{queue}"' in line for line in lines), lines[:3]
