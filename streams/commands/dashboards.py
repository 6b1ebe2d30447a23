"""``ccpulse dashboards generate|push``: Grafana dashboards as code (``dashboards/``).

``generate`` writes the dashboards' JSON (default: ``dashboards/generated/``, the committed copy);
``--check`` only reports files that differ from the code. ``push`` uploads the dashboards and the
Prometheus datasource to a Grafana through its HTTP API, into a folder, idempotently. Both take
the alert thresholds and the windows from the configuration (``--config``), so a deployment's
Grafana colours match its own rules.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from processors.alert_rules import AlertRule


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("dashboards", help="generate or push the Grafana dashboards")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    generate = actions.add_parser("generate", help="write the dashboards' JSON")
    generate.add_argument("--out", help="directory (default: dashboards/generated in the package)")
    generate.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if a file differs"
    )
    generate.set_defaults(func=run_generate)

    push = actions.add_parser("push", help="upload dashboards and datasource to a Grafana")
    push.add_argument("--url", required=True, help="Grafana base URL, e.g. http://grafana:3000")
    push.add_argument(
        "--token",
        default=os.environ.get("CCPULSE_GRAFANA_TOKEN"),
        help="service-account token (default: $CCPULSE_GRAFANA_TOKEN)",
    )
    push.add_argument("--folder", default="ccpulse", help="folder title (uid ccpulse)")
    push.add_argument(
        "--prometheus-url",
        default="http://127.0.0.1:9090",
        help="the Prometheus that scrapes the workers, as Grafana reaches it",
    )
    push.add_argument("--timeout", type=float, default=10.0, help="seconds per API call")
    push.set_defaults(func=run_push)


def _inputs(args: argparse.Namespace) -> tuple[list[AlertRule], list[str]]:
    from streams.config import config_from_env

    config = config_from_env(args.config)
    return list(config.alerts.effective_rules()), list(config.engine.windows)


def run_generate(args: argparse.Namespace) -> int:
    from dashboards.build import GENERATED_DIR, stale_files, write

    rules, windows = _inputs(args)
    out = Path(args.out) if args.out else GENERATED_DIR
    if args.check:
        stale = stale_files(out, rules, windows)
        for name in stale:
            print(f"{out / name}: differs from the code (run: ccpulse dashboards generate)")
        return 1 if stale else 0
    for path in write(out, rules, windows):
        print(path)
    return 0


def run_push(args: argparse.Namespace) -> int:
    from grafana_client.client import GrafanaException

    from dashboards.build import render
    from dashboards.panels import DATASOURCE_UID
    from streams.offline.grafana_push import push

    if not args.token:
        print("ccpulse dashboards push: give --token or set CCPULSE_GRAFANA_TOKEN", file=sys.stderr)
        return 2
    rules, windows = _inputs(args)
    try:
        result = push(
            args.url,
            args.token,
            render(rules, windows),
            prometheus_url=args.prometheus_url,
            datasource_uid=DATASOURCE_UID,
            folder_title=args.folder,
            timeout=args.timeout,
        )
    except (GrafanaException, OSError) as error:
        print(f"ccpulse dashboards push: {args.url}: {error}", file=sys.stderr)
        return 1
    for uid, url in result.dashboards.items():
        print(f"{uid}: {args.url.rstrip('/')}{url}")
    return 0
