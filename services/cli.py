"""`mission-pulse`: one command for every part of the system."""

from __future__ import annotations

import argparse
import asyncio
import sys
from contextlib import suppress

from services.common.config_files import ConfigError
from services.common.gc_tuning import tune_garbage_collection
from services.common.logs import configure_logging
from services.common.processes import NotReady
from services.common.settings import ClientSettings, CommonSettings
from services.reports.commands import add_report_commands, report_command, rescore_command


def _serve(service: str) -> None:
    import uvicorn

    if service == "ingest":
        from services.ingest.app import create_app as create_ingest
        from services.ingest.settings import IngestSettings

        ingest_settings = IngestSettings()
        configure_logging("ingest", ingest_settings.log_level)
        app, host, port = (
            create_ingest(ingest_settings),
            ingest_settings.ingest_host,
            ingest_settings.ingest_port,
        )
    else:
        from services.api.app import create_app as create_api
        from services.api.settings import ApiSettings

        api_settings = ApiSettings()
        configure_logging("api", api_settings.log_level)
        app, host, port = create_api(api_settings), api_settings.api_host, api_settings.api_port
    common = CommonSettings()
    tune_garbage_collection(common.gc_young_threshold)
    # an open alert stream never ends by itself: without a bound, a SIGTERM waited for every client to go
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=round(common.shutdown_grace_s),
    )


def _sink() -> None:
    import signal

    from prometheus_client import start_http_server

    from services.sink.app import run_sink
    from services.sink.settings import SinkSettings

    settings = SinkSettings()
    configure_logging("sink", settings.log_level)
    start_http_server(settings.sink_metrics_port, addr=settings.sink_metrics_host)

    async def until_stopped() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await run_sink(settings, stop)

    asyncio.run(until_stopped())


def _scorer() -> None:
    from services.common.kafka import ensure_topics_when_reachable
    from services.scorer.settings import ScorerSettings

    settings = ScorerSettings()
    configure_logging("scorer", settings.log_level)
    # The tables' changelogs too: when Faust creates them itself as the worker starts, its first metadata
    # may not know them yet, and an agent writing such a table crashes (PartitionsMismatch, "0 partitions")
    # again and again until the metadata is refreshed — minutes without spike alerts.
    internal = (
        settings.ticks_topic,
        settings.spike_counts_topic,
        settings.report_deltas_topic,
        settings.shadow_alerts_topic,
        settings.shadow_dead_letters_topic,
    )
    asyncio.run(ensure_topics_when_reachable(settings, internal, settings.changelog_topics))
    from services.scorer.app import app

    faust_level = {"WARNING": "warn", "CRITICAL": "crit"}.get(
        settings.log_level.upper(), settings.log_level.lower()
    )
    sys.argv = ["mission-pulse scorer", "--quiet", "worker", "--loglevel", faust_level]
    app.main()


def _simulate(args: argparse.Namespace) -> None:
    from services.simulator.runner import simulate

    configure_logging("simulator", CommonSettings().log_level)
    with suppress(KeyboardInterrupt):  # Ctrl-C is how a simulation ends
        asyncio.run(simulate(args.ingest_url, args.rate, args.constituents, args.seed, args.duration))


def _run(args: argparse.Namespace) -> None:
    from services.launcher import run_everything

    run_everything(args.rate)


def _topics() -> None:
    from services.common.kafka import ensure_topics

    settings = CommonSettings()
    configure_logging("topics", settings.log_level)
    asyncio.run(ensure_topics(settings))


def _replay_dead_letters(args: argparse.Namespace) -> None:
    from services.ingest.replay import replay

    configure_logging("dlq-replay", CommonSettings().log_level)
    from services.ingest.replay import ReplayRefused

    key = ClientSettings().ingest_secret()  # a key with the ingest scope, for the events' sources
    try:
        outcome = asyncio.run(replay(CommonSettings(), args.ingest_url, args.reason_code, args.dry_run, key))
    except ReplayRefused as error:
        raise SystemExit(f"dlq-replay stopped: {error}") from None
    for what, count in outcome.most_common():
        print(f"  {what}: {count}")


def _erase(args: argparse.Namespace) -> None:
    """Ask the API to erase a constituent; print its receipt."""
    from urllib.parse import quote

    import httpx

    key = ClientSettings().erase_secret()
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    body = {"reason": args.reason, "suppress": args.suppress}
    try:
        # an id may hold any character, "/" included: one path segment, encoded (issue 34)
        url = f"{args.api_url}/v1/constituents/{quote(args.constituent_id, safe='')}/erase"
        answer = httpx.post(url, json=body, headers=headers, timeout=30)
    except httpx.HTTPError as error:
        raise SystemExit(f"could not reach the API at {args.api_url}: {error}") from None
    if answer.status_code != 200:
        raise SystemExit(f"the API answered {answer.status_code}: {answer.text[:300]}")
    for name, value in answer.json().items():
        print(f"{name}: {value}")


def _bench(args: argparse.Namespace) -> None:
    from services.bench.run import SCENARIOS, run

    configure_logging("bench", "WARNING")
    selected = tuple(args.scenario) or SCENARIOS
    if unknown := set(selected) - set(SCENARIOS):
        raise SystemExit(f"unknown scenario {sorted(unknown)}: choose from {', '.join(SCENARIOS)}")
    path = run(selected, args.events, args.constituents, args.ingest_seconds, args.api_constituents)
    print(f"figures written to {path} and {path.with_suffix('.md')}")


def _soak(args: argparse.Namespace) -> None:
    from services.bench.soak import soak

    configure_logging("soak", "WARNING")
    path = soak(args.minutes, args.rate, args.constituents)
    print(f"samples written to {path} and {path.with_suffix('.md')}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="mission-pulse", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("ingest", help="serve the ingest HTTP API (MP_INGEST_PORT, default 8081)")
    commands.add_parser("scorer", help="run a scorer worker (Faust; /metrics on MP_SCORER_WEB_PORT, 6066)")
    commands.add_parser("api", help="serve the query API and alert stream (MP_API_PORT, default 8080)")
    commands.add_parser("sink", help="write the scores topic to Redis, the serving tier (docs/serving.md)")
    commands.add_parser("topics", help="create Mission Pulse's Kafka topics if missing")
    simulate = commands.add_parser("simulate", help="post realistic synthetic traffic to ingest")
    run = commands.add_parser("run", help="ingest, scorer, api and the simulator together")
    bench = commands.add_parser(
        "bench", help="benchmarks on the broker MP_KAFKA_BOOTSTRAP names (make bench)"
    )
    bench.add_argument(
        "scenario", nargs="*", help="scorer, ingest, e2e, api, sink and/or dedup (default: all)"
    )
    bench.add_argument("--events", type=int, default=1_000_000, help="events in the scorer topic (1,000,000)")
    bench.add_argument(
        "--constituents", type=int, default=1_000_000, help="people they belong to (1,000,000)"
    )
    bench.add_argument(
        "--ingest-seconds", type=float, default=10.0, help="seconds per ingest, end-to-end and API case (10)"
    )
    bench.add_argument(
        "--api-constituents", type=int, default=1_000_000, help="scores the API benchmark serves (1,000,000)"
    )
    soak = commands.add_parser("soak", help="a bounded steady load on the whole system (make soak)")
    soak.add_argument("--minutes", type=float, default=10.0, help="how long (10)")
    soak.add_argument("--rate", type=float, default=500.0, help="events per second (500)")
    soak.add_argument("--constituents", type=int, default=10_000, help="population (10,000)")
    dlq = commands.add_parser(
        "dlq-replay", help="post dead-lettered touchpoints to ingest again, after a fix"
    )
    dlq.add_argument("--reason-code", help="only letters refused for this reason (e.g. schema)")
    dlq.add_argument("--dry-run", action="store_true", help="count what would be replayed, post nothing")
    erase = commands.add_parser(
        "erase", help="erase a constituent on request (the API's erase scope: MP_ERASE_KEY)"
    )
    erase.add_argument("constituent_id")
    erase.add_argument("--reason", required=True, help="why (recorded with the erasure)")
    erase.add_argument("--suppress", action="store_true", help="also drop every later event of theirs")
    report, _ = add_report_commands(commands)
    clients = ClientSettings()
    for sub in (erase, report):
        sub.add_argument("--api-url", default=clients.api_url)
    for sub in (simulate, run):
        sub.add_argument("--rate", type=float, default=20.0, help="events per second (default 20)")
    for sub in (simulate, dlq):
        sub.add_argument("--ingest-url", default=clients.ingest_url)
    simulate.add_argument("--constituents", type=int, default=300, help="how many people (default 300)")
    simulate.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    simulate.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    args = parser.parse_args(argv)
    try:
        _dispatch(args)
    except (ConfigError, NotReady) as error:
        raise SystemExit(str(error)) from None


def _dispatch(args: argparse.Namespace) -> None:
    match args.command:
        case "ingest" | "api":
            _serve(args.command)
        case "scorer":
            _scorer()
        case "sink":
            _sink()
        case "topics":
            _topics()
        case "simulate":
            _simulate(args)
        case "run":
            _run(args)
        case "dlq-replay":
            _replay_dead_letters(args)
        case "erase":
            _erase(args)
        case "report":
            report_command(args)
        case "rescore":
            rescore_command(args)
        case "bench":
            _bench(args)
        case "soak":
            _soak(args)


if __name__ == "__main__":
    main()
