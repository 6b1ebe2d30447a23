"""Upload the dashboards and their Prometheus datasource to a Grafana, idempotently.

Through Grafana's HTTP API with ``grafana-client``: the folder is looked up by its uid and created
if missing (renamed if its title changed), the datasource is looked up by its uid and updated or
created, and every dashboard is posted to ``/api/dashboards/db`` with ``overwrite: true`` and
its stable uid, so running the push again replaces the dashboards instead of adding copies.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError

from streams.logs import log

__all__ = ["DATASOURCE_NAME", "PushResult", "datasource_document", "push"]

logger = logging.getLogger("ccpulse.dashboards")

DATASOURCE_NAME = "ccpulse Prometheus"


@dataclass
class PushResult:
    folder_uid: str
    folder_created: bool = False
    datasource_created: bool = False
    dashboards: dict[str, str] = field(default_factory=dict)
    """Dashboard uid -> the URL Grafana answered with."""


def datasource_document(
    uid: str, prometheus_url: str, scrape_interval: str = "5s"
) -> dict[str, Any]:
    """The Prometheus datasource the dashboards query (same as deploy/grafana provisioning)."""
    return {
        "uid": uid,
        "name": DATASOURCE_NAME,
        "type": "prometheus",
        "access": "proxy",
        "url": prometheus_url,
        "isDefault": False,
        "jsonData": {"httpMethod": "POST", "timeInterval": scrape_interval},
    }


def _api(url: str, token: str, timeout: float) -> GrafanaApi:
    # grafana-client appends "api" to the URL path as is: "/grafana" must become "/grafana/".
    parts = urlsplit(url)
    path = parts.path if parts.path.endswith("/") or not parts.path else parts.path + "/"
    return GrafanaApi.from_url(
        urlunsplit(parts._replace(path=path)), credential=token, timeout=timeout
    )


def _missing(error: GrafanaClientError) -> bool:
    return getattr(error, "status_code", None) == 404


def push(
    url: str,
    token: str,
    dashboards: Mapping[str, dict[str, Any]],
    prometheus_url: str,
    datasource_uid: str,
    folder_title: str = "ccpulse",
    folder_uid: str = "ccpulse",
    timeout: float = 10.0,
) -> PushResult:
    """Create or update the folder, the datasource and every dashboard. Raises on any API error
    other than "not found" (which means: create it)."""
    api = _api(url, token, timeout)
    result = PushResult(folder_uid=folder_uid)
    try:
        folder = api.folder.get_folder(folder_uid)
        if folder.get("title") != folder_title:
            api.folder.update_folder(folder_uid, title=folder_title, overwrite=True)
    except GrafanaClientError as error:
        if not _missing(error):
            raise
        api.folder.create_folder(folder_title, uid=folder_uid)
        result.folder_created = True

    datasource = datasource_document(datasource_uid, prometheus_url)
    try:
        api.datasource.get_datasource_by_uid(datasource_uid)
        api.datasource.update_datasource_by_uid(datasource_uid, datasource)
    except GrafanaClientError as error:
        if not _missing(error):
            raise
        api.datasource.create_datasource(datasource)
        result.datasource_created = True

    for document in dashboards.values():
        body = {
            "dashboard": {**document, "id": None},
            "folderUid": folder_uid,
            "overwrite": True,
            "message": "ccpulse dashboards push",
        }
        answer = api.dashboard.update_dashboard(body)
        result.dashboards[document["uid"]] = str(answer.get("url", ""))
    log(
        logger,
        "dashboards pushed",
        grafana=url,
        folder=folder_uid,
        dashboards=len(result.dashboards),
        datasource=datasource_uid,
    )
    return result
