"""`mission-pulse run` (`make run`): the whole system on this machine with the simulator feeding it,
development keys made on the first run, and a pulse line every 10 s."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
from prometheus_client.parser import text_string_to_metric_families

from services.common.auth import digest
from services.common.processes import RESTART_EXIT_CODE, start_service, stop, wait_until_ready
from services.common.settings import REPO_ROOT, ClientSettings
from services.domain.alerts.model import ALERT_KINDS
from services.serving.local_redis import answers, start_redis

if TYPE_CHECKING:
    from services.api.settings import ApiSettings


def _metric_total(metrics_text: str, family: str, **labels: str) -> float:
    return sum(
        sample.value
        for metric in text_string_to_metric_families(metrics_text)
        if metric.name == family
        for sample in metric.samples
        if sample.name in (family, f"{family}_total") and labels.items() <= sample.labels.items()
    )


def _pulse_line(ingest_url: str, api_url: str, read_key: str | None) -> str:
    """One line of what the system sees right now, for the `run` console."""
    try:
        accepted = _metric_total(httpx.get(f"{ingest_url}/metrics").text, "mp_ingest_events_accepted")
        api_metrics = httpx.get(f"{api_url}/metrics").text
        read = {"Authorization": f"Bearer {read_key}"} if read_key else {}
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
        "version = 2\n"
        '[[keys]]\nname = "development-ingest"\nscopes = ["ingest"]\nsources = ["*"]\n'
        "rate_per_second = 1000\nevents_per_second = 100000\n"
        f'sha256 = "{digest(os.environ["MP_INGEST_API_KEY"])}"\n'
        '[[keys]]\nname = "development-reader"\nscopes = ["read"]\nrate_per_second = 1000\n'
        f'sha256 = "{digest(os.environ["MP_READ_TOKEN"])}"\n'
        '[[keys]]\nname = "development-operator"\n'
        'scopes = ["read", "operate", "dead_letters", "identify", "erase"]\n'
        f'rate_per_second = 100\nsha256 = "{digest(os.environ["MP_WRITE_TOKEN"])}"\n'
    )
    os.environ["MP_AUTH_CONFIG"] = str(config)
    print(
        "development keys (from .dev/):\n"
        f"  ingest API key  {os.environ['MP_INGEST_API_KEY']}\n"
        f"  API read token  {os.environ['MP_READ_TOKEN']}\n"
        f"  operator token  {os.environ['MP_WRITE_TOKEN']}\n"
        "                  (read, acknowledge / resolve alerts, dead letters, identify, erase)\n"
        "  send them as   Authorization: Bearer <key>\n"
        "  MP_ENVIRONMENT=development: these keys are for this machine only (docs/security.md)",
        flush=True,
    )


def _serving_tier(api: ApiSettings) -> list[subprocess.Popen[bytes]]:
    """MP_SERVING=redis: the Redis MP_REDIS_URL names — started here (Debian's redis-server, no
    persistence, its log in .dev/redis-<port>) when it is this machine's and nothing answers there —
    and the sink."""
    started = []
    url = api.redis_url.get_secret_value()
    address = urlsplit(url)
    if api.redis_sentinels:
        where = f"the master Sentinels {api.redis_sentinels} name"
    elif answers(url):
        where = f"the Redis already answering at {address.hostname}:{address.port or 6379}"
    elif address.hostname in ("127.0.0.1", "localhost"):
        port = address.port or 6379
        started.append(start_redis(port, REPO_ROOT / ".dev" / f"redis-{port}"))
        where = f"a local redis-server on 127.0.0.1:{port} (no persistence: the sink rebuilds it from Kafka)"
    else:
        raise SystemExit(f"MP_SERVING=redis: no Redis answers at {address.hostname}:{address.port or 6379}")
    print(f"serving scores from Redis: {where}, written by the sink", flush=True)
    started.append(start_service("sink"))
    return started


def run_everything(rate: float) -> None:
    """Ingest, scorer, API and the simulator as child processes; Ctrl-C stops them all."""
    from services.api.settings import ApiSettings
    from services.ingest.settings import IngestSettings
    from services.scorer.settings import ScorerSettings

    ingest, api, scorer = IngestSettings(), ApiSettings(), ScorerSettings()
    # SIGTERM (a service manager, `kill`) stops the children as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # This machine is not production: development keys, and webhooks may stay unconfigured (503).
    os.environ.setdefault("MP_ENVIRONMENT", "development")
    # Keep the console readable: children log warnings and errors unless MP_LOG_LEVEL says otherwise.
    os.environ.setdefault("MP_LOG_LEVEL", "WARNING")
    _development_secret("MP_IDENTITY_SECRET", "identity-secret")
    # Stripe's webhook verifies with a development secret, so the simulator's "rotated secret" is refused
    _development_secret("MP_STRIPE_WEBHOOK_SECRETS", "stripe-webhook-secret")
    _development_keys()
    # A demo cannot wait 15 minutes for a missing receipt: hand-off deadlines run 50 times faster.
    os.environ.setdefault("MP_SCORER_DEADLINE_SCALE", "0.02")
    # the API's interactive docs on this development machine (off by default: docs/security.md)
    os.environ.setdefault("MP_API_INTERACTIVE_DOCS", "true")
    children: list[subprocess.Popen[bytes]] = []
    try:
        if api.serving == "redis":  # the serving tier too: a local Redis unless one is given, and the sink
            children += _serving_tier(api)
        for name in ("ingest", "scorer", "api"):
            children.append(start_service(name))
        ingest_url = f"http://{ingest.ingest_host}:{ingest.ingest_port}"
        api_url = f"http://{api.api_host}:{api.api_port}"
        scorer_url = f"http://{scorer.scorer_web_host}:{scorer.scorer_web_port}"
        wait_until_ready(f"{ingest_url}/readyz", children[0])
        wait_until_ready(f"{scorer_url}/readyz", children[1])
        wait_until_ready(f"{api_url}/readyz", children[2])
        children.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "services.cli",
                    "simulate",
                    "--ingest-url",
                    ingest_url,
                    "--rate",
                    str(rate),
                ]
            )
        )
        # the key rides in the fragment, which the browser keeps to itself; the page stores it per tab
        clients = ClientSettings()  # the development keys _development_keys() set, read as every client does
        write_token = clients.write_token.get_secret_value() if clients.write_token else None
        console_url = f"{api_url}/console/" + (f"#key={write_token}" if write_token else "")
        print(
            "\nMission Pulse is running (Ctrl-C stops everything):\n"
            f"  console  {console_url}\n"
            f"  ingest   POST {ingest_url}/v1/events      docs {ingest_url}/docs\n"
            f"  api      GET  {api_url}/v1/constituents/c-00001   (with the read token)\n"
            f"           GET  {api_url}/v1/alerts     live: curl -N -H 'Authorization: Bearer …' "
            f"{api_url}/v1/alerts/stream\n"
            f"           docs {api_url}/docs\n"
            f"  metrics  {ingest_url}/metrics  {scorer_url}/metrics  {api_url}/metrics\n"
            "  webhooks Stripe verifies with .dev/stripe-webhook-secret; SendGrid, SES and the beacon\n"
            "           answer 503 until their verifiers are set (docs/sources.md)\n"
            f"  simulator: about {rate:g} events/s over 300 constituents; every 6 min: a card-processor\n"
            "             outage (1 min in), the email provider pausing (at ~3 min) and Stripe's secret\n"
            "             rotated (at ~4.5 min); failed recurring gifts recovered or lost; deadlines and\n"
            f"             silence windows x{ScorerSettings().scorer_deadline_scale:g}\n",
            flush=True,
        )
        next_pulse = time.monotonic() + 5
        while True:
            if children[1].poll() == RESTART_EXIT_CODE:  # the scorer asks to be started afresh
                print("the scorer restarts itself (a stalled consumer, docs/reliability.md)", flush=True)
                children[1] = start_service("scorer")
            if any(child.poll() is not None for child in children):
                break
            if time.monotonic() >= next_pulse:
                print(_pulse_line(ingest_url, api_url, clients.read_secret()), flush=True)
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
            stop(child)  # each was told above, so they stop together
