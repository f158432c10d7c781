"""Thin Kafka helpers: creating the topics, and a producer that reports an unreachable broker plainly."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import suppress
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError, KafkaTimeoutError, TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context
from aiokafka.protocol.metadata import MetadataRequest

from services.common.batched_send import FEW, send_in_batches
from services.common.config_files import ConfigError
from services.common.kafka_records import Record as Record  # re-exported: where most callers look
from services.common.kafka_records import Written as Written
from services.common.kafka_records import partition_for as partition_for
from services.common.settings import CommonSettings

log = logging.getLogger(__name__)


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
        NewTopic(
            settings.topic_reports,
            settings.topic_partitions,
            settings.topic_replication,
            topic_configs={"cleanup.policy": "compact"},
        ),
        NewTopic(
            settings.topic_versions,
            1,
            settings.topic_replication,
            topic_configs={"cleanup.policy": "compact"},
        ),
    ]
    if settings.topic_min_insync_replicas > 1:
        for topic in wanted:
            topic.topic_configs["min.insync.replicas"] = str(settings.topic_min_insync_replicas)
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
            await _until_listed(admin, {t.name for t in missing})
    finally:
        await admin.close()


async def _until_listed(admin: AIOKafkaAdminClient, names: set[str], timeout_s: float = 10.0) -> None:
    """Wait (a little) until the brokers' metadata lists new topics: on a cluster a broker learns of a
    topic a moment after the controller made it, and a client asking it first would hear "unknown"."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not names <= set(await admin.list_topics()) and loop.time() < deadline:
        await asyncio.sleep(0.1)


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

    def __init__(
        self, settings: CommonSettings, timeout_s: float, linger_ms: int = 5, few: int = FEW
    ) -> None:
        """``few``: from how many records a partition's go as a whole batch (common/batched_send.py)."""
        self._settings = settings
        self._timeout_s = timeout_s
        self._linger_ms = linger_ms
        self._few = few
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _connected(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                request_timeout_s = min(self._timeout_s, self._settings.kafka_request_timeout_s)
                producer = AIOKafkaProducer(
                    **client_options(self._settings),
                    acks="all",
                    enable_idempotence=True,
                    linger_ms=self._linger_ms,
                    max_batch_size=self._settings.kafka_batch_bytes,  # send_in_batches fills them whole
                    # also how long a batch may wait for its leader: send_all sends it again after
                    request_timeout_ms=round(request_timeout_s * 1000),
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
        """Send records, wait until Kafka acknowledged every one; where each landed, or KafkaUnavailable.

        One request to one broker may take ``kafka_request_timeout_s``; a record whose request failed or
        expired (its partition's leader died or went silent) is sent again — the client has meanwhile
        learnt the new leader — until every record is acknowledged or ``timeout_s`` is over."""
        written: dict[int, Written] = {}
        try:
            async with asyncio.timeout(self._timeout_s):
                producer = await self._connected()
                while len(written) < len(records):
                    pending = [n for n in range(len(records)) if n not in written]
                    answers = await send_in_batches(producer, [records[n] for n in pending], self._few)
                    failed: BaseException | None = None
                    for n, answer in zip(pending, answers, strict=True):
                        if isinstance(answer, BaseException):
                            if not _worth_retrying(answer):
                                raise answer
                            failed = answer
                        else:
                            written[n] = answer
                    if failed is not None:
                        log.info(
                            "retrying a send",
                            extra={"error": repr(failed), "records": len(records) - len(written)},
                        )
                    if len(written) < len(records):
                        await asyncio.sleep(0.2)
                        await producer.client.force_metadata_update()  # who leads now
        except (TimeoutError, KafkaError) as error:
            raise KafkaUnavailable(
                f"Kafka did not acknowledge within {self._timeout_s:g}s: {error!r}"
            ) from error
        return [written[n] for n in range(len(records))]

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
        """Whether a broker of the cluster answers a metadata request right now."""
        try:
            async with asyncio.timeout(2):
                producer = await self._connected()
        except (TimeoutError, KafkaError, KafkaUnavailable):
            return False
        return await any_broker_answers(producer.client, timeout_s=2)

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


def _worth_retrying(error: BaseException) -> bool:
    """A leader that died, moved or went silent: the record may go through on the next try."""
    return isinstance(error, KafkaTimeoutError) or (isinstance(error, KafkaError) and error.retriable)


async def any_broker_answers(client: AIOKafkaClient, timeout_s: float) -> bool:
    """Whether one broker at least answers a metadata request within ``timeout_s``.

    All known brokers are asked at once: a broker cut off from us (alive but silent, as behind a network
    partition) holds a request until it times out, and one such broker must not make the cluster look
    down — nor a probe that happened to ask it first report "unreachable" while the others serve."""
    nodes = [broker.nodeId for broker in client.cluster.brokers()]
    if not nodes:  # no metadata yet: the bootstrap servers, one after the other
        try:
            async with asyncio.timeout(timeout_s):
                return bool(await client.fetch_all_metadata())
        except (TimeoutError, KafkaError, OSError):
            return False
    asks = [asyncio.ensure_future(client.send(node, MetadataRequest([]))) for node in nodes]
    try:
        for answer in asyncio.as_completed(asks, timeout=timeout_s):
            with suppress(KafkaError, OSError):
                await answer
                return True
        return False
    except TimeoutError:
        return False
    finally:
        for ask in asks:
            ask.cancel()


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
