"""Access per team in a real browser (Chromium via Playwright) against a real worker on the
session's Apache Kafka: team A signs in once with its token, sees its own queue only (cards,
alerts and the live stream), cannot acknowledge team B's alert, and downloads the "today by
interval" CSV of its queue. Without a token the API answers 401, and the log never holds a token.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.servers import free_port, require_binary
from tests.test_faults import BUSY_QUEUE_ALERT, known_events
from tests.test_wallboard_integration import CHROMIUM, CHROMIUM_ARGS
from tests.test_worker_integration import produce, setup_topics, wait_for
from tests.wallboard_stack import simulator_queues
from tests.worker_proc import Broker, WorkerProcess

pytestmark = pytest.mark.integration

TOKENS = {
    "CCPULSE_TEST_TEAM_A": "team-a-0123456789abcdef",
    "CCPULSE_TEST_TEAM_B": "team-b-0123456789abcdef",
    "CCPULSE_TEST_ADMIN": "admin-0123456789abcdef",
}


def call(
    url: str,
    token: str | None = None,
    body: dict[str, Any] | None = None,
    method: str | None = None,
) -> tuple[int, Any]:
    request = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}"} if token else {},
        method=method or ("GET" if body is None else "POST"),
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def test_team_a_sees_its_queue_only_cannot_ack_b_and_downloads_its_csv(
    broker: Broker,
    tmp_path: Path,
    topic_prefix: str,
    output_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    require_binary(CHROMIUM, "chromium")
    from playwright.sync_api import sync_playwright

    for name, value in TOKENS.items():
        monkeypatch.setenv(name, value)
    queue_a, queue_b = simulator_queues()[:2]
    config_path = tmp_path / "ccpulse.yaml"
    config_path.write_text(
        yaml.safe_dump(
            {
                "topics": {
                    name: f"{topic_prefix}.{name}"
                    for name in ("telephony", "ticketing", "alerts", "deadletter", "intervals")
                }
                | {"partitions": 2},
                "alerts": BUSY_QUEUE_ALERT,
                "access": {
                    "tokens": [
                        {
                            "name": "team-a",
                            "token": "${CCPULSE_TEST_TEAM_A}",
                            "queues": [queue_a],
                            "actions": ["read", "ack"],
                        },
                        {
                            "name": "team-b",
                            "token": "${CCPULSE_TEST_TEAM_B}",
                            "queues": [queue_b],
                            "actions": ["read", "ack"],
                        },
                        {"name": "ops", "token": "${CCPULSE_TEST_ADMIN}", "actions": ["admin"]},
                    ]
                },
            }
        )
    )
    topics = setup_topics(broker, config_path)
    _, lines = known_events(tmp_path, seed=11, seconds=3600)
    produce(broker, topics, lines)
    worker = WorkerProcess(
        broker, free_port(), tmp_path, app_id=f"{topic_prefix}-app", config=config_path
    ).start()
    admin = TOKENS["CCPULSE_TEST_ADMIN"]
    try:
        status, _ = call(worker.url + "/api/kpis")
        assert status == 401
        assert call(worker.url + f"/api/queues/{queue_a}")[0] == 401  # the drill-down too
        assert call(worker.url + "/api/agents")[0] == 401

        def alerts_of_both() -> bool:
            status, document = call(worker.url + "/api/alerts", admin)
            queues = {a["queue"] for a in document["alerts"] if a["state"] == "firing"}
            return status == 200 and {queue_a, queue_b} <= queues

        wait_for(alerts_of_both, 90, "alerts firing on both teams' queues")
        _, document = call(worker.url + "/api/alerts", admin)
        alert_b = next(a for a in document["alerts"] if a["queue"] == queue_b)
        silence = {"queue": queue_b, "duration_seconds": 60, "by": "ops"}
        status, posted = call(worker.url + "/api/silences", admin, silence)
        assert status == 201
        assert call(worker.url + "/api/silences", TOKENS["CCPULSE_TEST_TEAM_B"], silence)[0] == 403
        # Expiring it is silencing too: team B (read, ack) may not, nor may a stranger.
        expire_url = worker.url + f"/api/silences/{posted['silence']['id']}"
        assert call(expire_url, TOKENS["CCPULSE_TEST_TEAM_B"], method="DELETE")[0] == 403
        assert call(expire_url, "not-a-token", method="DELETE")[0] == 401
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                context = browser.new_context(accept_downloads=True)
                page = context.new_page()
                page.goto(worker.url + "/")
                page.fill("#token", TOKENS["CCPULSE_TEST_TEAM_A"])
                page.click("button[type=submit]")
                page.wait_for_selector(f'section.queue[data-queue="{queue_a}"] .tile')
                (cookie,) = context.cookies()
                assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
                assert page.evaluate("document.cookie") == ""  # no script can read it
                # A few live updates later, still A's queue and A's alerts only.
                page.wait_for_function(
                    "document.querySelector('#link').textContent === 'live'", timeout=30_000
                )
                page.wait_for_selector(f'#alert-list li[data-queue="{queue_a}"]', timeout=30_000)
                shown = page.eval_on_selector_all(
                    "section.queue", "s => s.map(e => e.dataset.queue)"
                )
                assert shown == [queue_a]
                alerts = page.eval_on_selector_all(
                    "#alert-list li", "s => s.map(e => e.dataset.queue)"
                )
                assert set(alerts) == {queue_a}
                # The cookie is the page's credential for the API too: B's alert is refused.
                ack = page.evaluate(
                    """(fp) => fetch('/api/alerts/ack', {method: 'POST',
                        body: JSON.stringify({fingerprint: fp, by: 'team-a'})})
                        .then(r => r.status)""",
                    alert_b["fingerprint"],
                )
                assert ack == 403
                kpis = page.evaluate("fetch('/api/kpis').then(r => r.json())")
                assert list(kpis["queues"]) == [queue_a]
                # The drill-down: A's queue, not B's; agents of A's queue only.
                statuses = page.evaluate(
                    "(qs) => Promise.all(qs.map(q => fetch('/api/queues/' + q).then(r => r.status)))",
                    [queue_a, queue_b],
                )
                assert statuses == [200, 403]
                agents = page.evaluate("fetch('/api/agents').then(r => r.json())")
                assert {a["queue"] for a in agents["agents"]} <= {queue_a}
                assert all(set(a["queues"]) <= {queue_a} for a in agents["agents"])
                forbidden = page.evaluate(
                    "(q) => fetch('/api/agents?queue=' + q).then(r => r.status)", queue_b
                )
                assert forbidden == 403
                silences = page.evaluate("fetch('/api/silences').then(r => r.json())")
                assert silences["silences"] == []  # B's silence is B's business
                # Today by interval: the CSV of A's queue.
                page.wait_for_selector("#interval-rows tr")
                with page.expect_download() as download:
                    page.click("#interval-csv")
                text = Path(download.value.path()).read_text()
                page.screenshot(path=str(output_dir / "team-a.png"), full_page=True)
            finally:
                browser.close()
        # The admin expires B's silence: gone from the cluster's list, and a second time 404.
        status, expired = call(expire_url, admin, method="DELETE")
        assert status == 200 and expired["expired"]["id"] == posted["silence"]["id"]
        listed = call(worker.url + "/api/silences", admin)[1]["silences"]
        assert posted["silence"]["id"] not in [s["id"] for s in listed]
        assert call(expire_url, admin, method="DELETE")[0] == 404
        header, *rows = text.splitlines()
        assert header.startswith("queue,interval_start,interval_end,entered,answered")
        assert rows and all(row.startswith(f"{queue_a},") for row in rows)
        assert sum(int(row.split(",")[3]) for row in rows) > 0
        # B's alert was not acknowledged; the refusals were logged without any token.
        _, document = call(worker.url + "/api/alerts", admin)
        still = next(a for a in document["alerts"] if a["fingerprint"] == alert_b["fingerprint"])
        assert not still.get("acknowledged_by"), still
        log = worker.log_path.read_text()
        assert "request refused" in log
        assert not any(token in log for token in TOKENS.values())
    finally:
        worker.stop()
