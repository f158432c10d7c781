"""`mission-pulse`: one command for every part of the system."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from contextlib import suppress

import httpx
from prometheus_client.parser import text_string_to_metric_families

from services.common.auth import digest
from services.common.gc_tuning import tune_garbage_collection
from services.common.logs import configure_logging
from services.common.readiness import wait_until_ready
from services.common.settings import REPO_ROOT, CommonSettings
from services.domain.alert_rules import ALERT_KINDS


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
    tune_garbage_collection(CommonSettings().gc_young_threshold)
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)


def _scorer() -> None:
    from services.common.kafka import ensure_topics_when_reachable
    from services.scorer.settings import ScorerSettings

    settings = ScorerSettings()
    configure_logging("scorer", settings.log_level)
    asyncio.run(ensure_topics_when_reachable(settings, (settings.ticks_topic, settings.spike_counts_topic)))
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


def _metric_total(metrics_text: str, family: str, **labels: str) -> float:
    return sum(
        sample.value
        for metric in text_string_to_metric_families(metrics_text)
        if metric.name == family
        for sample in metric.samples
        if sample.name in (family, f"{family}_total") and labels.items() <= sample.labels.items()
    )


def _pulse_line(ingest_url: str, api_url: str) -> str:
    """One line of what the system sees right now, for the `run` console."""
    try:
        accepted = _metric_total(httpx.get(f"{ingest_url}/metrics").text, "mp_ingest_events_accepted")
        api_metrics = httpx.get(f"{api_url}/metrics").text
        read = {"Authorization": f"Bearer {os.environ.get('MP_READ_TOKEN', '')}"}
        alerts = httpx.get(f"{api_url}/v1/alerts", params={"limit": 1}, headers=read).json()["alerts"]
    except (httpx.HTTPError, ValueError) as error:
        return f"pulse: not available ({error!r})"
    scored = _metric_total(api_metrics, "mp_api_view_entries", view="constituents")
    open_alerts = ", ".join(
        f"{_metric_total(api_metrics, 'mp_api_alerts_open', kind=kind):.0f} {kind}" for kind in ALERT_KINDS
    )
    line = f"pulse: {accepted:,.0f} events accepted · {scored:,.0f} constituents scored · open: {open_alerts}"
    if alerts:
        line += f"\n       latest alert: {alerts[0]['title']}"
    return line


def _development_secret(variable: str, name: str) -> None:
    """Unless ``variable`` is set, use (and on first run create) a local development secret in .dev/."""
    if os.environ.get(variable):
        return
    path = REPO_ROOT / ".dev" / name
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
        print(f"created a development secret for {variable} in {path}", flush=True)
    os.environ[variable] = path.read_text().strip()


def _development_keys() -> None:
    """Unless MP_AUTH_CONFIG is set, use (on first run, create) development keys in .dev/; print them."""
    if os.environ.get("MP_AUTH_CONFIG"):
        return
    _development_secret("MP_INGEST_API_KEY", "ingest-key")
    _development_secret("MP_READ_TOKEN", "read-token")
    _development_secret("MP_WRITE_TOKEN", "write-token")
    config = REPO_ROOT / ".dev" / "auth.toml"
    config.write_text(
        "# development keys made by `make run`; the keys are in .dev/ingest-key, read-token, write-token\n"
        "version = 1\n"
        f'[[ingest_keys]]\nname = "development"\nsources = ["*"]\nrate_per_second = 1000\n'
        f'sha256 = "{digest(os.environ["MP_INGEST_API_KEY"])}"\n'
        f'[[read_tokens]]\nname = "development"\nrate_per_second = 1000\n'
        f'sha256 = "{digest(os.environ["MP_READ_TOKEN"])}"\n'
        f'[[write_tokens]]\nname = "development-operator"\nrate_per_second = 100\n'
        f'sha256 = "{digest(os.environ["MP_WRITE_TOKEN"])}"\n'
    )
    os.environ["MP_AUTH_CONFIG"] = str(config)
    print(
        "development keys (from .dev/):\n"
        f"  ingest API key  {os.environ['MP_INGEST_API_KEY']}\n"
        f"  API read token  {os.environ['MP_READ_TOKEN']}\n"
        f"  write token     {os.environ['MP_WRITE_TOKEN']}   (acknowledge / resolve alerts)\n"
        "  send them as   Authorization: Bearer <key>",
        flush=True,
    )


def _run(args: argparse.Namespace) -> None:
    """Ingest, scorer, API and the simulator as child processes; Ctrl-C stops them all."""
    from services.api.settings import ApiSettings
    from services.ingest.settings import IngestSettings
    from services.scorer.settings import ScorerSettings

    ingest, api, scorer = IngestSettings(), ApiSettings(), ScorerSettings()
    here = [sys.executable, "-m", "services.cli"]
    # SIGTERM (a service manager, `kill`) stops the children as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # Keep the console readable: children log warnings and errors unless MP_LOG_LEVEL says otherwise.
    os.environ.setdefault("MP_LOG_LEVEL", "WARNING")
    _development_secret("MP_IDENTITY_SECRET", "identity-secret")
    _development_keys()
    # A demo cannot wait 15 minutes for a missing receipt: hand-off deadlines run 50 times faster.
    os.environ.setdefault("MP_SCORER_DEADLINE_SCALE", "0.02")
    children: list[subprocess.Popen[bytes]] = []
    try:
        for name in ("ingest", "scorer", "api"):
            children.append(subprocess.Popen([*here, name]))
        ingest_url = f"http://{ingest.ingest_host}:{ingest.ingest_port}"
        api_url = f"http://{api.api_host}:{api.api_port}"
        scorer_url = f"http://{scorer.scorer_web_host}:{scorer.scorer_web_port}"
        wait_until_ready(f"{ingest_url}/readyz", children[0])
        wait_until_ready(f"{scorer_url}/readyz", children[1])
        wait_until_ready(f"{api_url}/readyz", children[2])
        children.append(
            subprocess.Popen([*here, "simulate", "--ingest-url", ingest_url, "--rate", str(args.rate)])
        )
        # the key rides in the fragment, which the browser keeps to itself; the page stores it per tab
        write_token = os.environ.get("MP_WRITE_TOKEN")
        console_url = f"{api_url}/console/" + (f"#key={write_token}" if write_token else "")
        print(
            "\nMission Pulse is running (Ctrl-C stops everything):\n"
            f"  console  {console_url}\n"
            f"  ingest   POST {ingest_url}/v1/events      docs {ingest_url}/docs\n"
            f"  api      GET  {api_url}/v1/constituents/c-00001   (with the read token)\n"
            f"           GET  {api_url}/v1/alerts     live: curl -N {api_url}/v1/alerts/stream?token=…\n"
            f"           docs {api_url}/docs\n"
            f"  metrics  {ingest_url}/metrics  {scorer_url}/metrics  {api_url}/metrics\n"
            f"  simulator: about {args.rate:g} events/s over 300 constituents, a card-processor outage\n"
            "             a minute in and every 6 min; hand-off deadlines"
            f" x{os.environ['MP_SCORER_DEADLINE_SCALE']}\n",
            flush=True,
        )
        next_pulse = time.monotonic() + 5
        while all(child.poll() is None for child in children):
            if time.monotonic() >= next_pulse:
                print(_pulse_line(ingest_url, api_url), flush=True)
                next_pulse += 10
            time.sleep(0.5)
        raise SystemExit("a service stopped unexpectedly; stopping the others")
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
    finally:
        for child in reversed(children):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in reversed(children):
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()


def _topics() -> None:
    from services.common.kafka import ensure_topics

    settings = CommonSettings()
    configure_logging("topics", settings.log_level)
    asyncio.run(ensure_topics(settings))


def _replay_dead_letters(args: argparse.Namespace) -> None:
    from services.ingest.replay import replay

    configure_logging("dlq-replay", CommonSettings().log_level)
    outcome = asyncio.run(replay(CommonSettings(), args.ingest_url, args.reason_code, args.dry_run))
    for what, count in outcome.most_common():
        print(f"  {what}: {count}")


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
    commands.add_parser("topics", help="create Mission Pulse's Kafka topics if missing")
    simulate = commands.add_parser("simulate", help="post realistic synthetic traffic to ingest")
    run = commands.add_parser("run", help="ingest, scorer, api and the simulator together")
    bench = commands.add_parser(
        "bench", help="benchmarks on the broker MP_KAFKA_BOOTSTRAP names (make bench)"
    )
    bench.add_argument("scenario", nargs="*", help="scorer, ingest, e2e and/or api (default: all)")
    bench.add_argument("--events", type=int, default=1_000_000, help="events in the scorer topic (1,000,000)")
    bench.add_argument(
        "--constituents", type=int, default=1_000_000, help="people they belong to (1,000,000)"
    )
    bench.add_argument(
        "--ingest-seconds", type=float, default=15.0, help="seconds per ingest, end-to-end and API case (15)"
    )
    bench.add_argument(
        "--api-constituents", type=int, default=100_000, help="scores the API benchmark serves (100,000)"
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
    for sub in (simulate, run):
        sub.add_argument("--rate", type=float, default=20.0, help="events per second (default 20)")
    for sub in (simulate, dlq):
        sub.add_argument("--ingest-url", default=os.environ.get("MP_INGEST_URL", "http://127.0.0.1:8081"))
    simulate.add_argument("--constituents", type=int, default=300, help="how many people (default 300)")
    simulate.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    simulate.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    args = parser.parse_args(argv)
    match args.command:
        case "ingest" | "api":
            _serve(args.command)
        case "scorer":
            _scorer()
        case "topics":
            _topics()
        case "simulate":
            _simulate(args)
        case "run":
            _run(args)
        case "dlq-replay":
            _replay_dead_letters(args)
        case "bench":
            _bench(args)
        case "soak":
            _soak(args)


if __name__ == "__main__":
    main()
