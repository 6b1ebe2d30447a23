"""The worker's HTTP surface on a real worker (embedded broker, 127.0.0.1): Faust's own views
that show internals answer 404, the wallboard streams are capped (503 beyond) and share one
document encode a second, and a POST body over ``worker.max_body_bytes`` gets 413."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.ingest_helpers import write_config
from tests.servers import free_port
from tests.test_worker_integration import setup_topics
from tests.worker_proc import Broker, WorkerProcess

pytestmark = pytest.mark.integration

TOKEN = "surface-token"
MAX_STREAMS = 3
MAX_BODY = 2048


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory, broker: Broker) -> Iterator[WorkerProcess]:
    tmp = tmp_path_factory.mktemp("surface")
    prefix = "surface"
    config = tmp / "ccpulse.yaml"
    write_config(config, prefix, {})
    worker = {"api_token": TOKEN, "wallboard_max_streams": MAX_STREAMS, "max_body_bytes": MAX_BODY}
    metrics = {"prepare_ahead_from_seconds": 0}  # its few queues' page is prepared ahead too
    config.write_text(
        yaml.safe_dump({**yaml.safe_load(config.read_text()), "worker": worker, "metrics": metrics})
    )
    setup_topics(broker, config)
    process = WorkerProcess(broker, free_port(), tmp, config=config).start()
    try:
        yield process
    finally:
        process.stop()


def status(url: str, data: Any = None, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def metric(worker: WorkerProcess, name: str) -> float:
    text = worker.get("/metrics").decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    raise AssertionError(f"{name} not exported")


def test_faust_views_that_show_internals_answer_404(worker: WorkerProcess) -> None:
    internals = [
        "/router/",
        "/router/topics",
        "/router/queue-state/",
        "/table/",
        "/table/queue-state/",
        "/graph/",
        "/assignment/",
        "/performance/",
    ]
    assert {path: status(worker.url + path) for path in internals} == dict.fromkeys(internals, 404)
    # ccpulse's own views are still there
    assert status(worker.url + "/api/kpis") == 200
    assert status(worker.url + "/") == 200


class Stream:
    """One ``/api/kpis/stream`` connection, read line by line."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        self.connection.request("GET", "/api/kpis/stream")
        self.response = self.connection.getresponse()

    def next_document(self) -> dict[str, Any]:
        while True:
            line = self.response.fp.readline()
            assert line, "the stream ended"
            if line.startswith(b"data: "):
                return dict(json.loads(line[len(b"data: ") :]))

    def close(self) -> None:
        self.connection.close()


def test_wallboard_streams_are_capped_and_share_one_encode(worker: WorkerProcess) -> None:
    streams = [Stream(worker.port) for _ in range(MAX_STREAMS)]
    try:
        assert [s.response.status for s in streams] == [200] * MAX_STREAMS
        for stream in streams:
            stream.next_document()
        one_more = Stream(worker.port)
        assert one_more.response.status == 503
        assert one_more.response.getheader("Retry-After")
        one_more.close()
        assert metric(worker, "ccpulse_wallboard_streams") == MAX_STREAMS
        assert metric(worker, "ccpulse_wallboard_streams_refused_total") >= 1

        # Every stream receives a new document each second (``at`` moves); count the encodes
        # over the same documents: shared, they are about one a second, not one per stream.
        before = metric(worker, "ccpulse_wallboard_encodes_total")
        seen = [{stream.next_document()["at"] for _ in range(4)} for stream in streams]
        after = metric(worker, "ccpulse_wallboard_encodes_total")
        seconds = len(set().union(*seen))
        assert all(len(at) == 4 for at in seen)
        assert after - before <= seconds + 2, (before, after, seen)
    finally:
        for stream in streams:
            stream.close()
    # a closed stream frees its slot (noticed at the server's next write)
    deadline = time.monotonic() + 30
    while metric(worker, "ccpulse_wallboard_streams") > 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    again = Stream(worker.port)
    try:
        assert again.response.status == 200
    finally:
        again.close()


def test_a_post_body_over_the_limit_gets_413(worker: WorkerProcess) -> None:
    url = worker.url + "/api/silences"
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    silence = {"queue": "billing", "duration_seconds": 60, "by": "test", "comment": ""}
    assert status(url, json.dumps(silence).encode(), auth) == 201
    padded = {**silence, "comment": "x" * MAX_BODY}
    assert status(url, json.dumps(padded).encode(), auth) == 413
    # no Content-Length (chunked): the limit holds while reading
    chunks = iter([json.dumps(padded).encode()[i : i + 512] for i in range(0, MAX_BODY + 600, 512)])
    assert status(url, chunks, {**auth, "Transfer-Encoding": "chunked"}) == 413
    ack = {"fingerprint": "f", "by": "test", "comment": "x" * MAX_BODY}
    assert status(worker.url + "/api/alerts/ack", json.dumps(ack).encode(), auth) == 413
    # without the token nothing is read at all
    assert status(url, json.dumps(padded).encode(), {"Content-Type": "application/json"}) == 401


def test_the_kpi_registry_is_served(worker: WorkerProcess) -> None:
    from processors.kpis import KPIS

    served = worker.get_json("/api/kpi-registry")
    assert [entry["name"] for entry in served] == [entry.name for entry in KPIS]
    abandon = next(entry for entry in served if entry["name"] == "abandon_rate")
    assert (abandon["title"], abandon["unit"], abandon["better"]) == (
        "Abandonment",
        "rate",
        "lower",
    )


def test_a_steady_scraper_gets_the_kpi_families_prepared_just_before_its_scrape(
    worker: WorkerProcess,
) -> None:
    """streams/views/prepared_page.py on a real worker: after two full scrapes 2 s apart, the
    third is answered with a page prepared shortly before it (about 0.25 s old), neither the
    previous scrape's page (2 s old) nor one computed on its arrival."""

    def served() -> dict[str, float]:
        text = worker.get("/metrics").decode()
        found = {"page_age": -1.0}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "ccpulse_metrics_scrapes_total":
                    found[sample.labels["page"]] = float(sample.value)
                elif sample.name == "ccpulse_metrics_page_age_seconds":
                    found["page_age"] = float(sample.value)
        assert "ccpulse_window_entered" in text  # the KPI families are on the page
        assert "# TYPE ccpulse_queue_abandoned_call gauge" in text  # and the agent families
        return found

    served()
    time.sleep(2.0)
    before = served()
    time.sleep(2.0)
    after = served()
    assert after.get("prepared", 0.0) - before.get("prepared", 0.0) == 1.0
    assert after.get("on_request", 0.0) == before.get("on_request", 0.0)
    assert 0.0 <= after["page_age"] < 1.2
