"""``ccpulse simulate``: produce realistic traffic to Kafka or to a JSON-lines file."""

from __future__ import annotations

import argparse
import logging
import signal
import time

from streams.logs import configure_logging, log

logger = logging.getLogger("ccpulse.simulate")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("simulate", help="produce realistic contact-centre traffic")
    parser.add_argument("--scenario", choices=("normal", "surge", "outage"), default="normal")
    parser.add_argument("--scenario-queue", help="queue hit by surge/outage (default: the first)")
    parser.add_argument(
        "--scenario-start", type=float, default=600.0, help="simulated seconds after start"
    )
    parser.add_argument("--scenario-duration", type=float, default=1800.0, help="simulated seconds")
    parser.add_argument("--surge-factor", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--flat-day",
        action="store_true",
        help="every hour as busy as the daily peak (default: quiet nights, two daytime peaks)",
    )
    parser.add_argument("--start", help="simulated start time, ISO 8601 (default: now)")
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="simulated seconds per wall second; 0 = as fast as possible",
    )
    parser.add_argument(
        "--backfill",
        type=float,
        default=0.0,
        help="start this many seconds in the past and send that history at once, then pace",
    )
    parser.add_argument("--duration", type=float, help="stop after this many simulated seconds")
    parser.add_argument("--events", type=int, help="stop after this many events")
    parser.add_argument("--output", choices=("kafka", "jsonl"), default="kafka")
    parser.add_argument("--file", default="-", help="with --output jsonl: path, or - for stdout")
    parser.add_argument("--bootstrap", help="Kafka bootstrap (default: from the config)")
    parser.add_argument("--telephony-topic")
    parser.add_argument("--ticketing-topic")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from streams.config import config_from_env
    from streams.offline.replay import parse_at
    from streams.offline.simulator import Scenario, Simulation
    from streams.offline.simulator.output import EventSink, JsonlSink, KafkaSink

    configure_logging("INFO")
    config = config_from_env(args.config)
    if args.start:
        start: float | None = float(parse_at(args.start))
    elif args.backfill:
        start = float(int(time.time() - args.backfill))
    else:
        start = None
    scenario = Scenario(
        args.scenario,
        args.scenario_queue,
        args.scenario_start,
        args.scenario_duration,
        args.surge_factor,
    )
    simulation = Simulation(start=start, seed=args.seed, scenario=scenario, flat_day=args.flat_day)
    sink: EventSink
    if args.output == "jsonl":
        sink = JsonlSink(args.file)
    else:
        from streams.broker.access import checked_kafka_python_client

        bootstrap, client = checked_kafka_python_client(config.kafka, args.bootstrap)
        sink = KafkaSink(
            bootstrap,
            args.telephony_topic or config.topics.telephony,
            args.ticketing_topic or config.topics.ticketing,
            **client,
        )
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    wall_start = time.monotonic()
    last_progress = wall_start
    # Pacing anchor: event time `paced_from` is sent at `wall_start`; anything older (a
    # backfilled history) goes out at once, anything newer at --speed simulated s per second.
    paced_from = simulation.start + args.backfill
    sent = 0
    log(
        logger,
        "simulation started",
        scenario=scenario.name,
        seed=args.seed,
        speed=args.speed,
        output=args.output,
    )
    try:
        for event in simulation.events():
            offset = event.time.timestamp() - simulation.start
            if stopping or (args.duration is not None and offset > args.duration):
                break
            if args.speed > 0:
                ahead = event.time.timestamp() - paced_from
                delay = ahead / args.speed - (time.monotonic() - wall_start)
                if delay > 0:
                    time.sleep(delay)
            sink.send(event)
            sent += 1
            if args.events is not None and sent >= args.events:
                break
            now = time.monotonic()
            if now - last_progress >= 10:
                rate = sent / (now - wall_start)
                log(
                    logger,
                    "progress",
                    events=sent,
                    simulated_seconds=round(offset),
                    rate=f"{rate:.0f}/s",
                )
                last_progress = now
    finally:
        sink.close()
    log(
        logger,
        "simulation finished",
        events=sent,
        wall_seconds=round(time.monotonic() - wall_start, 1),
    )
    return 0
