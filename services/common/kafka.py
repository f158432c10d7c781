"""Thin Kafka helpers: creating the topics, and a producer that reports an unreachable broker plainly."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import suppress
from typing import Any, NamedTuple

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context
from aiokafka.partitioner import murmur2

from services.common.config_files import ConfigError
from services.common.settings import CommonSettings

log = logging.getLogger(__name__)


class Record(NamedTuple):
    topic: str
    key: bytes | None
    value: bytes | None  # None: a tombstone
    partition: int | None = None  # None: chosen from the key by Kafka's default partitioner


class Written(NamedTuple):
    topic: str
    partition: int
    offset: int


class KafkaUnavailable(Exception):
    """Kafka did not acknowledge in time; nothing may be reported as accepted."""


def tls_context(settings: CommonSettings) -> ssl.SSLContext:
    """Verifies the brokers' certificates against MP_KAFKA_CA_FILE (the system's CAs when unset)."""
    cafile = str(settings.kafka_ca_file) if settings.kafka_ca_file else None
    try:
        context: ssl.SSLContext = create_ssl_context(cafile=cafile)
        return context
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(f"cannot use MP_KAFKA_CA_FILE {cafile}: {error}") from error


def client_options(settings: CommonSettings) -> dict[str, Any]:
    """What every Kafka client (producer, consumer, admin) needs to reach the brokers as configured:
    MP_KAFKA_BOOTSTRAP and MP_KAFKA_SECURITY_PROTOCOL, with TLS and SASL credentials where it says so."""
    protocol = settings.kafka_security_protocol
    options: dict[str, Any] = {"bootstrap_servers": settings.kafka_bootstrap, "security_protocol": protocol}
    if protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = tls_context(settings)
    if protocol == "SASL_SSL":
        password = settings.kafka_password.get_secret_value()
        if not settings.kafka_username or not password:
            raise ConfigError(
                "MP_KAFKA_SECURITY_PROTOCOL=SASL_SSL needs MP_KAFKA_USERNAME and MP_KAFKA_PASSWORD"
            )
        options |= {
            "sasl_mechanism": settings.kafka_sasl_mechanism,
            "sasl_plain_username": settings.kafka_username,
            "sasl_plain_password": password,
        }
    return options


async def ensure_topics(
    settings: CommonSettings,
    partitioned_like_touchpoints: tuple[str, ...] = (),
    compacted_like_touchpoints: tuple[str, ...] = (),
) -> None:
    """Create Mission Pulse's topics if they do not exist (idempotent; safe from every service).

    ``partitioned_like_touchpoints`` names internal topics that must have as many partitions, and
    ``compacted_like_touchpoints`` compacted ones (the scorer's table changelogs). Raw input (touchpoints,
    dead letters) is kept ``touchpoints_retention_days`` (docs/privacy.md)."""
    retention = str(int(settings.touchpoints_retention_days * 86_400_000))
    wanted = [
        *(
            NewTopic(name, settings.topic_partitions, settings.topic_replication)
            for name in partitioned_like_touchpoints
        ),
        *(
            NewTopic(
                name,
                settings.topic_partitions,
                settings.topic_replication,
                topic_configs={"cleanup.policy": "compact"},
            )
            for name in (*compacted_like_touchpoints, settings.topic_erasures)
        ),
        NewTopic(
            settings.topic_touchpoints,
            settings.topic_partitions,
            settings.topic_replication,
            topic_configs={"retention.ms": retention},
        ),
        NewTopic(
            settings.topic_scores,
            settings.topic_partitions,
            settings.topic_replication,
            topic_configs={"cleanup.policy": "compact"},
        ),
        # One partition keeps one global order of alert updates: the SSE stream resumes by offset.
        NewTopic(settings.topic_alerts, 1, settings.topic_replication),
        NewTopic(
            settings.topic_dead_letters,
            1,
            settings.topic_replication,
            topic_configs={"retention.ms": retention},
        ),
        NewTopic(
            settings.topic_identities,
            settings.topic_partitions,
            settings.topic_replication,
            topic_configs={"cleanup.policy": "compact"},
        ),
    ]
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [topic for topic in wanted if topic.name not in existing]
        if missing:
            # another service may create them between our list and create
            with suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
            log.info("created topics", extra={"topics": [t.name for t in missing]})
    finally:
        await admin.close()


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a keyed record (murmur2, as in the Java client)."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


MAX_RECORD_BYTES = 256 * 1024  # well under the broker's 1 MiB message limit


def records_by_partition(
    topic: str, keyed: Iterable[tuple[bytes, bytes]], partitions: int, max_bytes: int = MAX_RECORD_BYTES
) -> list[Record]:
    """JSON values of many keys as few records as possible: a JSON array per partition (and per
    ``max_bytes``), without a key, each value in the partition its own key would have chosen."""
    by_partition: dict[int, list[bytes]] = defaultdict(list)
    for key, value in keyed:
        by_partition[partition_for(key, partitions)].append(value)
    return [
        Record(topic, None, b"[" + b",".join(chunk) + b"]", partition)
        for partition, values in by_partition.items()
        for chunk in _chunks(values, max_bytes)
    ]


def _chunks(values: list[bytes], limit: int) -> Iterator[list[bytes]]:
    """Consecutive runs of ``values`` whose JSON array takes at most ``limit`` bytes (or one value)."""
    chunk: list[bytes] = []
    size = 1  # the JSON array's bytes so far: "[", then each value with its "," or the closing "]"
    for value in values:
        if chunk and size + len(value) + 1 > limit:
            yield chunk
            chunk, size = [], 1
        chunk.append(value)
        size += len(value) + 1
    if chunk:
        yield chunk


class ReliableProducer:
    """An idempotent ``acks=all`` producer that (re)connects lazily and fails fast when Kafka is away."""

    def __init__(self, settings: CommonSettings, timeout_s: float, linger_ms: int = 5) -> None:
        self._settings = settings
        self._timeout_s = timeout_s
        self._linger_ms = linger_ms
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _connected(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    **client_options(self._settings),
                    acks="all",
                    enable_idempotence=True,
                    linger_ms=self._linger_ms,
                    request_timeout_ms=int(self._timeout_s * 1000),
                    max_request_size=2 * 1024 * 1024,
                )
                try:
                    await producer.start()
                except KafkaError as error:
                    await producer.stop()
                    raise KafkaUnavailable(f"cannot connect to Kafka: {error}") from error
                self._producer = producer
            return self._producer

    async def send_all(self, records: list[Record]) -> list[Written]:
        """Send records, wait until Kafka acknowledged every one; where each landed, or KafkaUnavailable."""
        try:
            async with asyncio.timeout(self._timeout_s):
                producer = await self._connected()
                futures = [
                    await producer.send(topic, value=value, key=key, partition=partition)
                    for topic, key, value, partition in records
                ]
                written = await asyncio.gather(*futures)
        except (TimeoutError, KafkaError) as error:
            raise KafkaUnavailable(
                f"Kafka did not acknowledge within {self._timeout_s:g}s: {error!r}"
            ) from error
        return [Written(metadata.topic, metadata.partition, metadata.offset) for metadata in written]

    async def partitions(self, topic: str) -> int:
        """How many partitions ``topic`` has (from the producer's metadata), or KafkaUnavailable."""
        try:
            async with asyncio.timeout(self._timeout_s):
                producer = await self._connected()
                return len(await producer.partitions_for(topic))
        except (TimeoutError, KafkaError) as error:
            raise KafkaUnavailable(
                f"no metadata for {topic} within {self._timeout_s:g}s: {error!r}"
            ) from error

    async def is_connected(self) -> bool:
        """Whether Kafka answers a metadata request right now."""
        try:
            async with asyncio.timeout(2):
                producer = await self._connected()
                await producer.client.fetch_all_metadata()
        except (TimeoutError, KafkaError, KafkaUnavailable):
            return False
        return True

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


async def ensure_topics_when_reachable(
    settings: CommonSettings,
    partitioned_like_touchpoints: tuple[str, ...] = (),
    compacted_like_touchpoints: tuple[str, ...] = (),
    retry_s: float = 2.0,
) -> None:
    """Keep trying ``ensure_topics`` until Kafka answers, so a service may start before the broker."""
    while True:
        try:
            await ensure_topics(settings, partitioned_like_touchpoints, compacted_like_touchpoints)
            return
        except (KafkaError, OSError) as error:
            log.warning("kafka not reachable yet; will retry", extra={"error": repr(error)})
            await asyncio.sleep(retry_s)
