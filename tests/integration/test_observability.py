"""What operators rely on: every documented and charted metric is exported, a real Prometheus scrapes the
services, and a real Alertmanager receives a forwarded alert and sees it resolve."""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from services.common.processes import free_port, start_service, stop, wait_until_ready
from tests.fixtures.config import REPO_ROOT
from tests.fixtures.ops_tools import alertmanager, running
from tests.fixtures.system import System, isolated_topics, launch
from tests.fixtures.touchpoints import touchpoint
from tests.fixtures.waiting import post_each

pytestmark = pytest.mark.integration
METRIC = re.compile(r"\bmp_(?:\(([a-z_|]+)\)_)?([a-z_]+)")


def referenced_metrics(text: str) -> set[str]:
    """Metric names in PromQL or prose, expanding ``mp_(a|b)_rest`` alternations."""
    names = set()
    for alternatives, rest in METRIC.findall(text):
        for middle in alternatives.split("|") if alternatives else [""]:
            names.add(f"mp_{middle}_{rest}" if middle else f"mp_{rest}")
    return names


@pytest.fixture(scope="module")
def sink_url(bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A sink (the serving tier's, docs/serving.md) on topics of its own: its /metrics address."""
    port = free_port()
    env = {
        **os.environ,
        **isolated_topics("observability-sink"),
        "MP_KAFKA_BOOTSTRAP": bootstrap,
        "MP_REDIS_URL": redis_url,
        "MP_SINK_GROUP": f"observability-sink-{uuid.uuid4().hex[:6]}",
        "MP_SINK_METRICS_PORT": str(port),
    }
    sink = start_service("sink", env, tmp_path_factory.mktemp("sink") / "sink.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(f"{url}/metrics", sink, timeout_s=60)
        yield url
    finally:
        stop(sink)


def exported_metrics(system: System, sink_url: str) -> set[str]:
    """Every sample name the services can expose, from their TYPE lines."""
    names = set()
    for url in (system.ingest_url, system.scorer_url, system.api_url, sink_url):
        for family, kind in re.findall(r"^# TYPE (\S+) (\S+)$", httpx.get(f"{url}/metrics").text, re.M):
            names.add(family)
            suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}.get(kind, [])
            names.update(family + suffix for suffix in suffixes)
    return names


def dashboard_expressions() -> str:
    texts = []
    for path in (REPO_ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"):
        for panel in orjson.loads(path.read_bytes())["panels"]:
            texts += [target["expr"] for target in panel["targets"]]
    return "\n".join(texts)


def rule_expressions() -> str:
    rules = yaml.safe_load((REPO_ROOT / "deploy" / "prometheus" / "rules" / "mission-pulse.yml").read_text())
    return "\n".join(rule["expr"] for group in rules["groups"] for rule in group["rules"])


@pytest.mark.parametrize("where", ["docs/metrics.md", "dashboards", "rules"])
def test_every_documented_charted_or_alerted_metric_is_exported(
    system: System, sink_url: str, where: str
) -> None:
    text = {
        "docs/metrics.md": (REPO_ROOT / "docs" / "metrics.md").read_text(),
        "dashboards": dashboard_expressions(),
        "rules": rule_expressions(),
    }[where]
    wanted = referenced_metrics(text)
    assert wanted, f"no metric names found in {where}"
    if where == "docs/metrics.md":  # the forwarder's counter exists only where forwarding is on
        wanted.discard("mp_alertmanager_posts_total")
    missing = sorted(wanted - exported_metrics(system, sink_url))
    assert not missing, f"{where} uses metrics no service exports: {missing}"


def test_a_real_prometheus_scrapes_every_service(system: System, sink_url: str, tmp_path: Path) -> None:
    prometheus = shutil.which("prometheus")
    assert prometheus, "prometheus is not installed (make test installs it)"
    config = yaml.safe_load((REPO_ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config.pop("alerting")
    config["rule_files"] = [str(REPO_ROOT / "deploy" / "prometheus" / "rules" / "mission-pulse.yml")]
    ports = {
        "mission-pulse-ingest": system.ingest_url,
        "mission-pulse-scorer": system.scorer_url,
        "mission-pulse-api": system.api_url,
        "mission-pulse-sink": sink_url,
    }
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [ports[job["job_name"]].removeprefix("http://")]}]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        prometheus,
        f"--config.file={tmp_path / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    post_each(system, [touchpoint(f"prom-{uuid.uuid4().hex[:6]}", "donation.failed")])
    with running(command, f"{url}/-/ready", tmp_path / "prometheus.log"):
        deadline = time.monotonic() + 30
        health: dict[str, str] = {}
        while time.monotonic() < deadline:
            targets = httpx.get(f"{url}/api/v1/targets").json()["data"]["activeTargets"]
            health = {target["labels"]["job"]: target["health"] for target in targets}
            if set(health.values()) == {"up"} and len(health) == len(ports):
                break
            time.sleep(0.5)
        assert health == dict.fromkeys(ports, "up")
        for name in ("mp_ingest_events_accepted_total", "mp_scorer_events_total", "mp_api_alerts_open"):
            series = httpx.get(f"{url}/api/v1/series", params={"match[]": name}).json()["data"]
            assert series, f"Prometheus has no series {name}"
        deadline = time.monotonic() + 30  # every rule evaluated (each second) without an error
        while time.monotonic() < deadline:
            rules = httpx.get(f"{url}/api/v1/rules").json()["data"]["groups"][0]["rules"]
            if {rule["health"] for rule in rules} == {"ok"}:
                break
            time.sleep(0.5)
        assert {rule["name"]: rule["health"] for rule in rules} == {rule["name"]: "ok" for rule in rules}


def alertmanager_alerts(url: str, alert_id: str) -> list[dict[str, Any]]:
    found = httpx.get(f"{url}/api/v2/alerts", params={"filter": f'alert_id="{alert_id}"'}).json()
    return found  # type: ignore[no-any-return]


def test_a_real_alertmanager_receives_an_alert_and_sees_it_resolve(bootstrap: str, tmp_path: Path) -> None:
    config = "route:\n  receiver: nobody\n  group_wait: 1s\nreceivers:\n  - name: nobody\n"
    with (
        alertmanager(config, tmp_path) as url,
        launch(bootstrap, tmp_path / "system", MP_API_ALERTMANAGER_URL=url, **isolated_topics()) as system,
    ):
        donor = f"am-{uuid.uuid4().hex[:6]}"
        post_each(system, [touchpoint(donor, "donation.failed", amount=800)])
        deadline = time.monotonic() + 30
        firing: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not firing:
            listed = httpx.get(f"{system.api_url}/v1/alerts", params={"constituent_id": donor}).json()[
                "alerts"
            ]
            if listed:
                firing = alertmanager_alerts(url, listed[0]["alert_id"])
            time.sleep(0.5)
        assert firing, "the alert never reached Alertmanager"
        labels = firing[0]["labels"]
        assert (labels["alertname"], labels["kind"], labels["severity"]) == (
            "MissionPulseTransactionFailed",
            "transaction.failed",
            "critical",
        )
        assert firing[0]["status"]["state"] == "active"

        post_each(system, [touchpoint(donor, "donation.succeeded", amount=800)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and alertmanager_alerts(url, labels["alert_id"]):
            time.sleep(0.5)
        assert alertmanager_alerts(url, labels["alert_id"]) == [], "Alertmanager still shows it active"
