"""Following topics from the beginning into memory, knowing when caught up. Used by every view.

No consumer group: every replica reads every partition, so each holds the whole view and replicas scale
apart from the workers that write the topics.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from prometheus_client import Counter, Gauge

from services.common.kafka import client_options, ensure_topics
from services.common.settings import CommonSettings

log = logging.getLogger(__name__)
CONSUMER_LAG = Gauge(
    "mp_consumer_lag_messages",
    "Records not yet processed, per topic and partition (high-water mark minus next offset).",
    ["service", "topic", "partition"],
)
RECORDS_SKIPPED = Counter(
    "mp_view_records_skipped_total",
    "Records a view could not read (malformed, or an older format), by service and topic.",
    ["service", "topic"],
)

ASSIGNMENT_WAIT_S = 10.0
POSITIONS_WAIT_S = 15.0
STOP_WAIT_S = 10.0  # a consumer that takes longer to stop is left behind: reconnecting matters more
Handler = Callable[[ConsumerRecord], None]  # raises ValueError/KeyError/TypeError for a record it cannot read


class TopicFollower:
    def __init__(
        self,
        settings: CommonSettings,
        service: str,
        handlers: dict[str, Handler],
        on_caught_up: Callable[[], object] | None = None,
    ) -> None:
        """``on_caught_up``: called once, as the topics are first caught up, before ``ready`` is set and
        before any other task can see ``caught_up`` true (what a view builds once its replay is over)."""
        self._settings = settings
        self._service = service
        self._handlers = handlers
        self._on_caught_up = on_caught_up
        self._pending: dict[TopicPartition, int] | None = None  # end offsets still to reach
        self._next_offsets: dict[TopicPartition, int] = {}  # where to resume after a reconnect
        self._skipped: dict[str, int] = {}  # per topic, for logging the 1st, 10th, 100th… only
        self.ready = asyncio.Event()  # set once caught up (what ``caught_up`` says), for those who wait

    @property
    def caught_up(self) -> bool:
        return self._pending is not None and not self._pending

    def _check_caught_up(self) -> None:
        if self.caught_up and not self.ready.is_set():
            if self._on_caught_up is not None:
                self._on_caught_up()
            self.ready.set()
            log.info("caught up", extra={"topics": sorted(self._handlers)})

    async def run(self, retry_s: float = 2.0) -> None:
        """Consume forever; reconnect by itself when Kafka goes away."""
        while True:
            consumer = AIOKafkaConsumer(
                *self._handlers,
                **client_options(self._settings),
                # no consumer group: nothing waits long at a broker, and a silent one is left sooner
                request_timeout_ms=round(self._settings.kafka_request_timeout_s * 1000),
                enable_auto_commit=False,
                auto_offset_reset="earliest",
            )
            try:
                await ensure_topics(self._settings)
                await consumer.start()
                await self._follow(consumer)
            except (KafkaError, OSError) as error:
                log.warning("view consumer lost Kafka; reconnecting", extra={"error": repr(error)})
            finally:
                await _stop(consumer)
            await asyncio.sleep(retry_s)

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        # Without a group id aiokafka assigns every partition of the subscribed topics to this consumer —
        # once its metadata has them. A topic created a moment ago may be missing from a broker's metadata,
        # and the consumer would not ask again for minutes: a fresh consumer asks at once.
        deadline = asyncio.get_running_loop().time() + ASSIGNMENT_WAIT_S
        while {tp.topic for tp in consumer.assignment()} != set(self._handlers):
            if asyncio.get_running_loop().time() > deadline:
                missing = sorted(set(self._handlers) - {tp.topic for tp in consumer.assignment()})
                raise KafkaError(f"no partitions of {missing} in metadata after {ASSIGNMENT_WAIT_S:.0f} s")
            await asyncio.sleep(0.2)
        partitions = sorted(consumer.assignment())
        # Where to start: every partition at once. aiokafka waits up to a request timeout for each call
        # and says only whether it found them; a partition whose leader a broker does not know yet would
        # cost that wait per partition (18 partitions × 5 s: a view not ready for 90 s) and be asked about
        # again only when the metadata ages out — so one wait, then start afresh if anything is missing.
        to_start = [tp for tp in partitions if tp not in self._next_offsets]
        for tp in partitions:
            if tp in self._next_offsets:
                consumer.seek(tp, self._next_offsets[tp])
        try:
            async with asyncio.timeout(POSITIONS_WAIT_S):
                if to_start and not await consumer.seek_to_beginning(*to_start):
                    raise KafkaError(f"the first offsets of {len(to_start)} partitions not found in time")
                if self._pending is None:
                    ends = await consumer.end_offsets(partitions)
                    self._pending = {tp: end for tp, end in ends.items() if end > 0}
                    self._check_caught_up()  # topics with nothing on them yet
        except TimeoutError:
            raise KafkaError(f"the partitions' positions not found within {POSITIONS_WAIT_S:.0f} s") from None
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for tp, records in batches.items():
                handle = self._handlers[tp.topic]
                for record in records:
                    try:
                        handle(record)
                    except (
                        ValueError,
                        KeyError,
                        TypeError,
                    ) as error:  # orjson.JSONDecodeError is a ValueError
                        RECORDS_SKIPPED.labels(self._service, tp.topic).inc()
                        skipped = self._skipped[tp.topic] = self._skipped.get(tp.topic, 0) + 1
                        if _is_power_of_ten(skipped):  # a topic full of old records is no log flood
                            log.warning(
                                "skipped an unreadable record",
                                extra={
                                    "topic": tp.topic,
                                    "partition": tp.partition,
                                    "offset": record.offset,
                                    "error": str(error),
                                    "skipped_so_far": skipped,
                                },
                            )
                self._next_offsets[tp] = records[-1].offset + 1
            for tp in partitions:
                highwater = consumer.highwater(tp)
                if highwater is not None:
                    lag = highwater - self._next_offsets.get(tp, 0)
                    CONSUMER_LAG.labels(self._service, tp.topic, str(tp.partition)).set(max(0, lag))
            if self._pending:
                for tp in list(self._pending):
                    if await consumer.position(tp) >= self._pending[tp]:
                        del self._pending[tp]
                self._check_caught_up()


def _is_power_of_ten(number: int) -> bool:
    return str(number).rstrip("0") == "1"


async def _stop(consumer: AIOKafkaConsumer) -> None:
    """Stop a consumer, or leave it behind after ``STOP_WAIT_S``: one whose start failed midway was seen
    never to finish stopping (a clean-clone run, 2026-11-28: an API view not ready for 96 s, until the
    service's shutdown cancelled the wait)."""
    try:
        async with asyncio.timeout(STOP_WAIT_S):
            await consumer.stop()
    except TimeoutError:
        log.warning("view consumer did not stop in time; left behind", extra={"wait_s": STOP_WAIT_S})
