"""``ccpulse alerts list|ack|silence|expire``: the worker's alert API from the command line.

Each worker only knows the alerts of the queues it owns, so ``--url`` may be given once per
worker: ``list`` merges them. Silences and acknowledgements are the cluster's (kept on the
silences topic): ``ack`` and ``silence`` need one worker, any of them; given several URLs,
``ack`` stops at the first that takes it and ``silence`` posts to the first that answers.
The bearer token comes from ``--token``, ``$CCPULSE_API_TOKEN`` or the config's
``worker.api_token``; ``--by`` (default: the login name) is recorded on the alerts topic.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

__all__ = ["parse_duration", "register"]


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("alerts", help="list, acknowledge or silence alerts")
    _connection_options(parser, None)
    # The same options after the action (``alerts list --url ...``), without overriding them.
    common = argparse.ArgumentParser(add_help=False)
    _connection_options(common, argparse.SUPPRESS)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="pending and firing alerts", parents=[common])
    listing.add_argument("--json", action="store_true", help="print the JSON documents")
    listing.set_defaults(func=run_list)

    ack = actions.add_parser("ack", help="acknowledge a firing alert", parents=[common])
    ack.add_argument("fingerprint", nargs="?", help="the alert's fingerprint (see list)")
    ack.add_argument("--rule", help="with --queue: instead of the fingerprint")
    ack.add_argument("--queue")
    ack.add_argument("--by", default=None, help="who acknowledges (default: login name)")
    ack.add_argument("--comment", default="")
    ack.set_defaults(func=run_ack)

    silence = actions.add_parser(
        "silence", help="silence notifications of matching alerts", parents=[common]
    )
    silence.add_argument("--queue", default="*", help="queue name or shell pattern (default *)")
    silence.add_argument("--rule", default="*", help="rule name or shell pattern (default *)")
    silence.add_argument(
        "--duration", required=True, help="how long: seconds, or 30m, 2h, 1d", type=str
    )
    silence.add_argument("--by", default=None, help="who silences (default: login name)")
    silence.add_argument("--comment", default="")
    silence.set_defaults(func=run_silence)

    expire = actions.add_parser("expire", help="end a silence now", parents=[common])
    expire.add_argument("silence_id", help="the silence's id (see list)")
    expire.set_defaults(func=run_expire)


def _connection_options(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "--url",
        action="append",
        default=default,
        help="worker base URL, repeatable (default: http://<worker.web_host>:<worker.web_port>)",
    )
    parser.add_argument(
        "--token", default=default, help="bearer token (default: $CCPULSE_API_TOKEN or config)"
    )


def parse_duration(text: str) -> float:
    """``90`` -> 90.0, ``30m`` -> 1800.0, ``2h`` -> 7200.0."""
    from processors.settings import parse_window

    try:
        return float(text)
    except ValueError:
        pass
    seconds = parse_window(text)
    if seconds is None:
        raise ValueError("a duration, not 'today'")
    return float(seconds)


def _urls(args: argparse.Namespace) -> list[str]:
    if args.url:
        return [u.rstrip("/") for u in args.url]
    from streams.config import config_from_env

    worker = config_from_env(args.config).worker
    host = "127.0.0.1" if worker.web_host in ("0.0.0.0", "::") else worker.web_host
    return [f"http://{host}:{worker.web_port}"]


def _token(args: argparse.Namespace) -> str | None:
    if args.token:
        return str(args.token)
    if os.environ.get("CCPULSE_API_TOKEN"):
        return os.environ["CCPULSE_API_TOKEN"]
    from streams.config import config_from_env

    return config_from_env(args.config).worker.api_token


def _who(args: argparse.Namespace) -> str:
    if args.by:
        return str(args.by)
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _call(
    url: str, method: str = "GET", body: Any = None, token: str | None = None
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        try:
            return error.code, json.loads(error.read() or b"null")
        except ValueError:
            return error.code, {"error": error.reason}


def _fail(message: str) -> int:
    print(f"ccpulse alerts: {message}", file=sys.stderr)
    return 1


def run_list(args: argparse.Namespace) -> int:
    documents = []
    for url in _urls(args):
        try:
            status, document = _call(url + "/api/alerts")
        except OSError as exc:
            return _fail(f"{url}: {exc}")
        if status != 200:
            return _fail(f"{url}: HTTP {status}: {document}")
        documents.append(document)
    if args.json:
        print(json.dumps(documents if len(documents) > 1 else documents[0], indent=2))
        return 0
    # Each worker lists the cluster's alerts (the same everywhere, from the silences topic);
    # a worker without them lists its own.
    shared = {a["fingerprint"]: a for d in documents for a in d.get("cluster", [])}
    owned = {a["fingerprint"]: a for d in documents for a in d["alerts"]}
    alerts = list({**shared, **{f: a for f, a in owned.items() if f not in shared}}.values())
    if not alerts:
        print("no pending or firing alerts")
    for alert in sorted(alerts, key=lambda a: (a["state"] != "firing", a["rule"], a["queue"])):
        flags = []
        if alert.get("acknowledged_by"):
            flags.append(f"acked by {alert['acknowledged_by']}")
        if alert.get("silenced"):
            flags.append("silenced")
        since = time.strftime("%H:%M:%S", time.gmtime(alert["since"])) if alert["since"] else "-"
        extra = f" [{', '.join(flags)}]" if flags else ""
        print(
            f"{alert['state']:8} {alert['severity']:8} {alert['fingerprint']}  since {since}Z  "
            f"{alert['summary']}{extra}"
        )
    # Every worker lists the cluster's silences: each once.
    silences = {s["id"]: s for d in documents for s in d["silences"]}.values()
    for silence in silences:
        ends = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(silence["ends_at"]))
        print(
            f"silence  {silence['id']}  rule={silence['rule']} queue={silence['queue']} "
            f"until {ends} by {silence['created_by']}: {silence['comment']}"
        )
    return 0


def run_ack(args: argparse.Namespace) -> int:
    fingerprint = args.fingerprint
    if fingerprint is None:
        if not (args.rule and args.queue):
            return _fail("give a fingerprint, or --rule and --queue")
        from processors.alerts import fingerprint as alert_fingerprint

        fingerprint = alert_fingerprint(args.rule, args.queue)
    body = {"fingerprint": fingerprint, "by": _who(args), "comment": args.comment}
    token = _token(args)
    last = ""
    for url in _urls(args):
        try:
            status, document = _call(url + "/api/alerts/ack", "POST", body, token)
        except OSError as exc:
            last = f"{url}: {exc}"
            continue
        if status == 200:
            print(f"acknowledged: {document['acknowledged']['summary']}")
            return 0
        if status == 202:
            print(f"acknowledged: {fingerprint} (its owner applies it from the silences topic)")
            return 0
        if status == 401:
            return _fail(f"{url}: 401 unauthorized: {document.get('error')}")
        last = f"{url}: HTTP {status}: {document.get('error') if document else ''}"
    return _fail(last or "no worker answered")


def run_silence(args: argparse.Namespace) -> int:
    try:
        duration = parse_duration(args.duration)
    except ValueError as exc:
        return _fail(f"--duration: {exc}")
    body = {
        "queue": args.queue,
        "rule": args.rule,
        "duration_seconds": duration,
        "by": _who(args),
        "comment": args.comment,
    }
    document = _first_to_take(args, "/api/silences", "POST", body, 201)
    if document is None:
        return 1
    silence = document["silence"]
    ends = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(silence["ends_at"]))
    print(
        f"silenced rule={silence['rule']} queue={silence['queue']} until {ends} "
        f"(id {silence['id']}, {len(document['covers'])} active alert(s) covered)"
    )
    return 0  # the cluster has it: every worker applies it from the silences topic


def _first_to_take(
    args: argparse.Namespace, path: str, method: str, body: Any, expected: int
) -> Any:
    """The answer of the first worker that answers ``expected`` (a silence is the cluster's:
    any worker writes it to the silences topic); None, with each refusal printed, if none."""
    token = _token(args)
    for url in _urls(args):
        try:
            status, document = _call(url + path, method, body, token)
        except OSError as exc:
            print(f"ccpulse alerts: {url}: {exc}", file=sys.stderr)
            continue
        if status == expected:
            return document
        error = document.get("error") if isinstance(document, dict) else document
        print(f"ccpulse alerts: {url}: HTTP {status}: {error}", file=sys.stderr)
    return None


def run_expire(args: argparse.Namespace) -> int:
    """Expire a silence now: the cluster forgets it on every worker."""
    path = "/api/silences/" + urllib.parse.quote(args.silence_id, safe="")
    document = _first_to_take(args, path, "DELETE", None, 200)
    if document is None:
        return 1
    silence = document["expired"]
    print(f"expired silence {silence['id']} rule={silence['rule']} queue={silence['queue']}")
    return 0
