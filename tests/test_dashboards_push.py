"""``ccpulse dashboards push`` against a local HTTP server that checks the requests the Grafana
HTTP API expects.

This stand-in is the only Grafana we can run here (no Grafana package, no Docker, no network):
it implements just the endpoints the push uses, with Grafana's documented request and answer
shapes (folders by uid, datasources by uid, ``POST /api/dashboards/db``), rejects anything
malformed with Grafana's status codes, and keeps what it was given so the test can check that a
second push updates in place instead of adding copies.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from dashboards.build import BOARDS, render
from dashboards.panels import DATASOURCE_UID
from tests.servers import free_port
from tests.worker_proc import ROOT

pytestmark = pytest.mark.integration

TOKEN = "glsa_test_token"


class FakeGrafana:
    """Folders, datasources and dashboards in memory, behind Grafana's API paths."""

    def __init__(self) -> None:
        self.port = free_port()
        self.requests: list[tuple[str, str]] = []
        self.folders: dict[str, dict[str, Any]] = {}
        self.datasources: dict[str, dict[str, Any]] = {}
        self.dashboards: dict[str, dict[str, Any]] = {}
        self.errors: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _app(self) -> web.Application:
        @web.middleware
        async def auth(request: web.Request, handler: Any) -> web.StreamResponse:
            self.requests.append((request.method, request.path))
            if request.headers.get("Authorization") != f"Bearer {TOKEN}":
                return web.json_response({"message": "Unauthorized"}, status=401)
            return await handler(request)

        app = web.Application(middlewares=[auth])
        app.router.add_get("/api/folders/{uid}", self.get_folder)
        app.router.add_post("/api/folders", self.create_folder)
        app.router.add_put("/api/folders/{uid}", self.update_folder)
        app.router.add_get("/api/datasources/uid/{uid}", self.get_datasource)
        app.router.add_post("/api/datasources", self.create_datasource)
        app.router.add_put("/api/datasources/uid/{uid}", self.update_datasource)
        app.router.add_post("/api/dashboards/db", self.save_dashboard)
        return app

    async def get_folder(self, request: web.Request) -> web.Response:
        folder = self.folders.get(request.match_info["uid"])
        if folder is None:
            return web.json_response({"message": "folder not found"}, status=404)
        return web.json_response(folder)

    async def create_folder(self, request: web.Request) -> web.Response:
        body = await request.json()
        if not body.get("title") or not body.get("uid"):
            self.errors.append(f"folder without title/uid: {body}")
            return web.json_response({"message": "bad request"}, status=400)
        if body["uid"] in self.folders:
            return web.json_response({"message": "a folder with that uid exists"}, status=409)
        self.folders[body["uid"]] = {"uid": body["uid"], "title": body["title"], "id": 7}
        return web.json_response(self.folders[body["uid"]])

    async def update_folder(self, request: web.Request) -> web.Response:
        body = await request.json()
        folder = self.folders.get(request.match_info["uid"])
        if folder is None:
            return web.json_response({"message": "folder not found"}, status=404)
        folder["title"] = body["title"]
        return web.json_response(folder)

    async def get_datasource(self, request: web.Request) -> web.Response:
        source = self.datasources.get(request.match_info["uid"])
        if source is None:
            return web.json_response({"message": "Data source not found"}, status=404)
        return web.json_response(source)

    def _check_datasource(self, body: dict[str, Any]) -> str | None:
        for key in ("name", "type", "url", "access", "uid"):
            if not body.get(key):
                return f"datasource without {key}"
        if body["type"] != "prometheus":
            return f"datasource type {body['type']}"
        return None

    async def create_datasource(self, request: web.Request) -> web.Response:
        body = await request.json()
        problem = self._check_datasource(body)
        if problem:
            self.errors.append(problem)
            return web.json_response({"message": problem}, status=400)
        if body["uid"] in self.datasources:
            return web.json_response({"message": "data source exists"}, status=409)
        self.datasources[body["uid"]] = body
        return web.json_response({"id": 1, "message": "Datasource added", "name": body["name"]})

    async def update_datasource(self, request: web.Request) -> web.Response:
        body = await request.json()
        uid = request.match_info["uid"]
        problem = self._check_datasource(body) or (None if body["uid"] == uid else "uid mismatch")
        if problem or uid not in self.datasources:
            self.errors.append(problem or "update of a missing datasource")
            return web.json_response({"message": problem}, status=400)
        self.datasources[uid] = body
        return web.json_response({"id": 1, "message": "Datasource updated"})

    async def save_dashboard(self, request: web.Request) -> web.Response:
        body = await request.json()
        dashboard = body.get("dashboard") or {}
        uid = dashboard.get("uid")
        if not uid or not dashboard.get("title") or not dashboard.get("panels"):
            self.errors.append(f"dashboard without uid/title/panels: {list(dashboard)}")
            return web.json_response({"message": "bad dashboard"}, status=400)
        if dashboard.get("id") is not None:
            self.errors.append(f"{uid}: id must be null for a dashboard saved by uid")
        if body.get("folderUid") not in self.folders:
            return web.json_response({"message": "folder not found"}, status=400)
        if uid in self.dashboards and body.get("overwrite") is not True:
            return web.json_response(
                {
                    "message": "A dashboard with the same uid already exists",
                    "status": "name-exists",
                },
                status=412,
            )
        version = self.dashboards.get(uid, {}).get("version", 0) + 1
        self.dashboards[uid] = {
            "dashboard": dashboard,
            "folderUid": body["folderUid"],
            "version": version,
        }
        return web.json_response(
            {"id": 1, "uid": uid, "url": f"/d/{uid}/x", "status": "success", "version": version}
        )

    def start(self) -> FakeGrafana:
        ready = threading.Event()

        def serve() -> None:
            loop = self._loop = asyncio.new_event_loop()
            self._runner = web.AppRunner(self._app())
            loop.run_until_complete(self._runner.setup())
            loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        assert ready.wait(10), "fake Grafana did not start"
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    server = FakeGrafana().start()
    try:
        yield server
    finally:
        server.stop()


def push(url: str, token: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "streams.cli",
            "dashboards",
            "push",
            "--url",
            url,
            "--token",
            token,
            "--prometheus-url",
            "http://prometheus:9090",
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_push_creates_folder_datasource_and_dashboards_then_updates_in_place(
    grafana: FakeGrafana,
) -> None:
    first = push(grafana.url, TOKEN, "--folder", "Contact centre")
    assert first.returncode == 0, first.stderr
    assert grafana.errors == []
    assert grafana.folders == {"ccpulse": {"uid": "ccpulse", "title": "Contact centre", "id": 7}}
    source = grafana.datasources[DATASOURCE_UID]
    assert source["url"] == "http://prometheus:9090" and source["access"] == "proxy"
    uids = {document["uid"] for document in render().values()}
    assert len(uids) == len(BOARDS)
    assert set(grafana.dashboards) == uids
    assert all(d["folderUid"] == "ccpulse" for d in grafana.dashboards.values())
    panels_sent = grafana.dashboards["ccpulse-wallboard"]["dashboard"]["panels"]
    assert any(p.get("repeat") == "queue" for p in panels_sent)
    assert ("POST", "/api/folders") in grafana.requests
    assert ("POST", "/api/datasources") in grafana.requests
    for uid in uids:
        assert f"/d/{uid}/x" in first.stdout

    grafana.requests.clear()
    second = push(grafana.url, TOKEN, "--folder", "Contact centre")
    assert second.returncode == 0, second.stderr
    assert grafana.errors == []
    # Idempotent: nothing created twice, everything overwritten in place.
    assert ("POST", "/api/folders") not in grafana.requests
    assert ("POST", "/api/datasources") not in grafana.requests
    assert ("PUT", f"/api/datasources/uid/{DATASOURCE_UID}") in grafana.requests
    assert len(grafana.folders) == 1 and len(grafana.datasources) == 1
    assert set(grafana.dashboards) == uids
    assert {d["version"] for d in grafana.dashboards.values()} == {2}
    saves = [r for r in grafana.requests if r == ("POST", "/api/dashboards/db")]
    assert len(saves) == len(BOARDS)


def test_push_renames_the_folder_and_reports_a_rejected_token(grafana: FakeGrafana) -> None:
    assert push(grafana.url, TOKEN).returncode == 0
    assert grafana.folders["ccpulse"]["title"] == "ccpulse"
    assert push(grafana.url, TOKEN, "--folder", "Wallboards").returncode == 0
    assert grafana.folders["ccpulse"]["title"] == "Wallboards"
    assert ("PUT", "/api/folders/ccpulse") in grafana.requests

    denied = push(grafana.url, "wrong-token")
    assert denied.returncode == 1
    assert "Unauthorized" in denied.stderr or "401" in denied.stderr


def test_push_to_nothing_listening_fails_clearly() -> None:
    result = push(f"http://127.0.0.1:{free_port()}", TOKEN, "--timeout", "2")
    assert result.returncode == 1
    assert "ccpulse dashboards push" in result.stderr
    assert "Traceback" not in result.stderr
