"""The deployment files, checked statically (Docker does not run here): they parse, and every port,
environment variable and probe path they name matches what the services actually read and serve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from services.api.settings import ApiSettings
from services.ingest.settings import IngestSettings
from services.scorer.settings import ScorerSettings
from services.sink.settings import SinkSettings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
KNOWN_SETTINGS = {
    f"MP_{name.upper()}"
    for cls in (IngestSettings, ScorerSettings, ApiSettings, SinkSettings)
    for name in cls.model_fields
}
PORT_SETTING = {
    "ingest": "MP_INGEST_PORT",
    "api": "MP_API_PORT",
    "scorer": "MP_SCORER_WEB_PORT",
    "sink": "MP_SINK_METRICS_PORT",
}
DEFAULT_PORT = {"ingest": 8081, "api": 8080, "scorer": 6066, "sink": 9109}


def served_paths(service: str) -> set[str]:
    if service == "sink":
        return {"/metrics"}  # prometheus_client's server: what the sink serves
    if service == "scorer":
        from services.scorer.app import app as scorer

        return set(scorer.web.views)
    if service == "ingest":
        from services.ingest.app import create_app as create_ingest

        app = create_ingest(IngestSettings(identity_secret="x", environment="development"))  # type: ignore[arg-type]
    else:
        from services.api.app import create_app as create_api

        app = create_api(ApiSettings(environment="development"))
    return _paths(app.routes)


def _paths(routes: list[Any]) -> set[str]:
    """Every route's path, also in included routers (FastAPI keeps those as routers of their own)."""
    paths = set()
    for route in routes:
        included = getattr(route, "original_router", None)
        paths |= _paths(included.routes) if included is not None else {str(getattr(route, "path", ""))}
    return paths


def k8s_documents() -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted((DEPLOY / "k8s").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
    ]


def k8s_containers() -> list[tuple[str, dict[str, Any]]]:
    """(service, container) for every Mission Pulse container in the manifests (not the brokers')."""
    found = []
    for doc in k8s_documents():
        if doc["kind"] in ("Deployment", "StatefulSet") and doc["metadata"]["name"].startswith(
            "mission-pulse-"
        ):
            for container in doc["spec"]["template"]["spec"]["containers"]:
                found.append((container["args"][0], container))
    return found


def test_every_deploy_file_parses() -> None:
    for path in DEPLOY.rglob("*"):
        if path.suffix in (".yaml", ".yml"):
            assert list(yaml.safe_load_all(path.read_text())), path
        elif path.suffix == ".json":
            assert orjson.loads(path.read_bytes()), path


def test_the_manifests_deploy_ingest_and_api_as_deployments_and_the_scorer_as_a_statefulset() -> None:
    kinds = {doc["metadata"]["name"]: doc["kind"] for doc in k8s_documents() if doc["kind"] != "Service"}
    assert kinds["mission-pulse-ingest"] == "Deployment"
    assert kinds["mission-pulse-api"] == "Deployment"
    assert kinds["mission-pulse-scorer"] == "StatefulSet"
    assert kinds["mission-pulse-sink"] == "Deployment"
    assert {service for service, _ in k8s_containers()} == {"ingest", "api", "scorer", "sink"}


@pytest.mark.parametrize("service", ["ingest", "api", "scorer", "sink"])
def test_manifest_ports_env_and_probes_match_the_service(service: str) -> None:
    configmap = next(doc for doc in k8s_documents() if doc["kind"] == "ConfigMap")
    paths = served_paths(service)
    for name, container in k8s_containers():
        if name != service:
            continue
        env = {item["name"]: item.get("value") for item in container.get("env", [])}
        unknown = sorted(set(env) - KNOWN_SETTINGS)
        assert not unknown, f"{service} sets variables no setting reads: {unknown}"
        port = int(env.get(PORT_SETTING[service]) or DEFAULT_PORT[service])
        assert [p["containerPort"] for p in container["ports"]] == [port]
        for probe in ("livenessProbe", "readinessProbe"):
            path = container[probe]["httpGet"]["path"]
            assert path in paths, f"{service} {probe} {path} is not served"
        assert container["resources"]["requests"]
    assert not sorted(set(configmap["data"]) - KNOWN_SETTINGS)


def test_compose_runs_each_service_with_known_settings_on_its_port() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"kafka", "ingest", "scorer-1", "scorer-2", "api", "prometheus", "grafana"} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:")
    for name in ("ingest", "scorer-1", "scorer-2", "api", "sink"):
        service = services[name]
        command = service["command"][0]
        env = {k: v for k, v in service["environment"].items() if k.startswith("MP_")}
        assert not sorted(set(env) - KNOWN_SETTINGS), name
        port = int(env.get(PORT_SETTING[command]) or DEFAULT_PORT[command])
        for mapping in service.get("ports", []):
            assert mapping.endswith(f":{port}")
    mounts = services["grafana"]["volumes"]
    assert "./grafana/dashboards:/var/lib/grafana/dashboards:ro" in mounts
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/mission-pulse.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


def test_the_image_runs_the_mission_pulse_command() -> None:
    dockerfile = (DEPLOY.parent / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["mission-pulse"]' in dockerfile
    for folder in ("schemas", "deploy/config"):
        assert f"COPY {folder} {folder}" in dockerfile


def test_the_image_runs_the_compiled_core_the_bench_measured() -> None:
    """A build stage compiles the scorer's pure core with mypyc and fails the build if any module is left
    uncompiled; the image takes the sources and their extensions from that one stage (so none is older than
    its source, which would have it removed at start: services/native.py)."""
    build, runtime = (DEPLOY.parent / "Dockerfile").read_text().split("\nFROM python:3.11-slim\n")
    assert "AS build" in build and "gcc" in build and "[rocksdb,native]" in build
    assert "services/native.py build" in build and "native.missing()" in build
    assert "COPY --from=build /app/services services" in runtime
    assert "COPY services services" not in runtime and "gcc" not in runtime


def test_the_image_carries_the_compiled_fold_built_in_a_stage_of_its_own() -> None:
    """services/fold_core is built into a wheel by maturin in a stage with the Rust toolchain; the image
    installs that wheel and carries no toolchain (docs/compiled-core.md)."""
    dockerfile = (DEPLOY.parent / "Dockerfile").read_text()
    core = dockerfile.split("AS core\n")[1].split("\nFROM ")[0]
    runtime = dockerfile.split("\nFROM python:3.11-slim\n")[1]
    assert "COPY --from=rust:" in core and "maturin build --release" in core and "fold_core" in core
    assert "COPY --from=core /wheels /wheels" in runtime and "pip install /wheels/*.whl" in runtime
    assert "cargo" not in runtime and "rustup" not in runtime


VERIFIERS = {
    "MP_STRIPE_WEBHOOK_SECRETS",
    "MP_SENDGRID_VERIFICATION_KEY",
    "MP_SES_TOPIC_ARNS",
    "MP_BEACON_ORIGINS",
    "MP_BEACON_SECRET",
}


def test_compose_starts_nothing_without_keys_and_publishes_on_loopback_by_default() -> None:
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    for name in ("ingest", "api"):
        env = services[name]["environment"]
        assert env["MP_ENVIRONMENT"] == "production" and env["MP_AUTH_CONFIG"], name
        assert any(volume.endswith(f":{env['MP_AUTH_CONFIG']}:ro") for volume in services[name]["volumes"])
    assert set(services["ingest"]["environment"]) >= VERIFIERS
    published = {}
    for name, service in services.items():
        for mapping in service.get("ports", []):
            published[name] = mapping.split("}:", 1)[0] + "}"
    # the product's authenticated ports with MP_PUBLISH_ADDRESS; the operations tools (Prometheus and
    # Alertmanager have no authentication) only with a setting of their own; both loopback by default
    assert published == {
        "ingest": "${MP_PUBLISH_ADDRESS:-127.0.0.1}",
        "api": "${MP_PUBLISH_ADDRESS:-127.0.0.1}",
        "prometheus": "${MP_OPS_PUBLISH_ADDRESS:-127.0.0.1}",
        "alertmanager": "${MP_OPS_PUBLISH_ADDRESS:-127.0.0.1}",
        "grafana": "${MP_OPS_PUBLISH_ADDRESS:-127.0.0.1}",
    }


def test_grafana_never_starts_with_a_default_password() -> None:
    grafana = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]["grafana"]["environment"]
    assert grafana["GF_SECURITY_ADMIN_PASSWORD"].startswith("${MP_GRAFANA_ADMIN_PASSWORD:?")
    assert grafana["GF_AUTH_ANONYMOUS_ENABLED"] == "${MP_GRAFANA_ANONYMOUS_VIEWERS:-false}"


def test_the_manifests_require_keys_and_wire_every_verifier() -> None:
    configmap = next(doc for doc in k8s_documents() if doc["kind"] == "ConfigMap")
    assert configmap["data"]["MP_ENVIRONMENT"] == "production"
    assert configmap["data"]["MP_AUTH_CONFIG"]
    ingest = next(container for name, container in k8s_containers() if name == "ingest")
    assert {item["name"] for item in ingest["env"]} >= VERIFIERS


def test_one_kafka_version_everywhere() -> None:
    """Compose's broker image, the local broker's jars and the bench's Kafka Streams are one release."""
    import re

    from services.bench.peers import KAFKA_STREAMS_VERSION

    pom = (DEPLOY / "kafka/pom.xml").read_text()
    local = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom)
    streams = re.search(
        r"<kafka.version>([^<]+)</kafka.version>", (DEPLOY / "bench/kstreams/pom.xml").read_text()
    )
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    images = {compose["kafka"]["image"], compose["kafka-tls"]["image"], kafka_node()["image"]}
    assert local and streams
    versions = {local.group(1), streams.group(1), KAFKA_STREAMS_VERSION} | {i.split(":")[1] for i in images}
    assert versions == {local.group(1)}


def kafka_node() -> dict[str, Any]:
    kafka = next(
        doc for doc in k8s_documents() if doc["kind"] == "StatefulSet" and doc["metadata"]["name"] == "kafka"
    )
    container: dict[str, Any] = kafka["spec"]["template"]["spec"]["containers"][0]
    return container


def test_compose_runs_kafka_only_over_tls_with_passwords_and_the_services_trust_only_its_ca() -> None:
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    kafka = services["kafka"]
    assert kafka["entrypoint"] == ["/bin/sh", "/opt/mission-pulse/broker.sh"]
    assert "./kafka/broker.sh:/opt/mission-pulse/broker.sh:ro" in kafka["volumes"]
    assert "PLAINTEXT" not in str(kafka) + (DEPLOY / "kafka/broker.sh").read_text().replace(
        "no PLAINTEXT", ""
    )
    for secret in ("KAFKA_SASL_PASSWORD", "KAFKA_BROKER_PASSWORD"):  # no default: compose refuses to start
        assert kafka["environment"][secret].startswith("${MP_KAFKA_"), secret
        assert ":?" in kafka["environment"][secret], secret
    made_for = services["kafka-tls"]["command"][0].split("/tls ", 1)[1].split(" ", 1)[0].split(",")
    assert kafka["environment"]["KAFKA_ADVERTISED_HOST"] in made_for  # the certificate names the broker
    for name in ("ingest", "scorer-1", "scorer-2", "api"):
        env, volumes = services[name]["environment"], services[name]["volumes"]
        assert env["MP_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL", name
        assert env["MP_KAFKA_PASSWORD"] == kafka["environment"]["KAFKA_SASL_PASSWORD"], name
        assert env["MP_KAFKA_USERNAME"] == kafka["environment"]["KAFKA_SASL_USERNAME"], name
        assert env["MP_KAFKA_BOOTSTRAP"] == f"{kafka['environment']['KAFKA_ADVERTISED_HOST']}:9092", name
        assert f"kafka-ca:{Path(env['MP_KAFKA_CA_FILE']).parent}:ro" in volumes, name
        assert services[name]["depends_on"]["kafka"] == {"condition": "service_healthy"}, name


def test_the_manifests_run_kafka_only_over_tls_and_give_every_service_the_password_and_the_ca() -> None:
    configmap = next(doc for doc in k8s_documents() if doc["kind"] == "ConfigMap")["data"]
    assert configmap["MP_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    node = kafka_node()
    assert node["command"] == ["/bin/sh", "/opt/mission-pulse/broker.sh"]
    env = {item["name"]: item for item in node["env"]}
    for secret in ("KAFKA_SASL_PASSWORD", "KAFKA_BROKER_PASSWORD", "KAFKA_CLUSTER_ID"):
        assert env[secret]["valueFrom"]["secretKeyRef"]["name"] == "mission-pulse-kafka", secret
    voters = {
        f"{entry.split('@')[1].split(':')[0]}"
        for entry in env["KAFKA_CONTROLLER_QUORUM_VOTERS"]["value"].split(",")
    }
    bootstrap = {address.split(":")[0] for address in configmap["MP_KAFKA_BOOTSTRAP"].split(",")}
    assert (
        bootstrap == voters == {f"kafka-{i}.kafka" for i in range(3)}
    )  # the names tls.sh is told (kafka.yaml)
    assert all(
        host in (DEPLOY / "k8s/kafka.yaml").read_text().split("tls.sh kafka-tls ", 1)[1].split()[0]
        for host in voters
    )
    ca_dir = str(Path(configmap["MP_KAFKA_CA_FILE"]).parent)
    for service, container in k8s_containers():
        password = next(item for item in container["env"] if item["name"] == "MP_KAFKA_PASSWORD")
        assert (
            password["valueFrom"]["secretKeyRef"] == env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]
        )
        mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
        assert mounts["kafka-ca"] == ca_dir, service


def test_redis_requires_a_password_everywhere_and_speaks_only_tls_in_the_manifests() -> None:
    """The serving tier is never an open Redis: compose's refuses to start without MP_REDIS_PASSWORD; the
    manifests' has no plaintext port, replicates over TLS, and sink and API read its URL (with the
    password, rediss://) and the CA from secrets, and find the master through the three Sentinels."""
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    redis = services["redis"]
    assert redis["profiles"] == ["redis"] == services["sink"]["profiles"]
    assert '[ -n "$$REDIS_PASSWORD" ] || {' in redis["command"][0]
    assert '--requirepass "$$REDIS_PASSWORD"' in redis["command"][0]
    for name in ("api", "sink"):
        assert services[name]["environment"]["MP_REDIS_URL"] == "redis://:${MP_REDIS_PASSWORD:-}@redis:6379/0"

    documents = k8s_documents()
    scripts = next(d for d in documents if d["metadata"]["name"] == "mission-pulse-redis")["data"]
    assert (
        "--port 0 --tls-port 6379" in scripts["redis.sh"] and "--tls-replication yes" in scripts["redis.sh"]
    )
    assert '--requirepass "$REDIS_PASSWORD" --masterauth "$REDIS_PASSWORD"' in scripts["redis.sh"]
    assert (
        "port 0\ntls-port 26379" in scripts["sentinel.sh"]
        and "requirepass $REDIS_PASSWORD" in scripts["sentinel.sh"]
    )
    statefulset = next(
        d for d in documents if d["kind"] == "StatefulSet" and d["metadata"]["name"] == "redis"
    )
    configmap = next(
        doc for doc in documents if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == "mission-pulse"
    )
    sentinels = configmap["data"]["MP_REDIS_SENTINELS"].split(",")
    assert sentinels == [f"redis-{n}.redis:26379" for n in range(statefulset["spec"]["replicas"])]
    assert (
        configmap["data"]["MP_REDIS_SENTINEL_MASTER"] in scripts["sentinel.sh"].split("sentinel monitor ")[1]
    )
    ca_dir = str(Path(configmap["data"]["MP_REDIS_CA_FILE"]).parent)
    for service, container in k8s_containers():
        if service not in ("api", "sink"):
            continue
        env = {item["name"]: item for item in container["env"]}
        assert env["MP_REDIS_URL"]["valueFrom"]["secretKeyRef"]["name"] == "mission-pulse-redis", service
        assert env["MP_REDIS_SENTINEL_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "password", service
        mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
        assert mounts["redis-ca"] == ca_dir, service
