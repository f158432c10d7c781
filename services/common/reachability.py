"""Whether Kafka answers right now, for the /readyz of services that otherwise keep going on stale data.

Kafka clients retry by themselves when the broker goes away, so a consumer's loop just sees empty
batches; nothing tells a load balancer or an operator. A small client asks for metadata every few
seconds instead (of every broker at once: one broker cut off must not look like all of Kafka), and /readyz
reports what it found.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError

from services.common.kafka import any_broker_answers, client_options
from services.common.settings import CommonSettings

log = logging.getLogger(__name__)


class KafkaReachability:
    def __init__(self, settings: CommonSettings, interval_s: float = 2.0, timeout_s: float = 3.0) -> None:
        self._bootstrap = settings.kafka_bootstrap
        self._options = client_options(settings)
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self.reachable = False
        self._checked = False

    async def run(self) -> None:
        client = AIOKafkaClient(**self._options)
        bootstrapped = False
        try:
            while True:
                try:
                    if not bootstrapped:
                        async with asyncio.timeout(self._timeout_s):
                            await client.bootstrap()
                        bootstrapped = True
                    reachable = await any_broker_answers(client, self._timeout_s)
                except (KafkaError, OSError, TimeoutError):
                    reachable = False
                if self._checked and reachable != self.reachable:
                    log.log(
                        logging.INFO if reachable else logging.WARNING,
                        "Kafka is reachable again" if reachable else "Kafka is unreachable",
                        extra={"bootstrap": self._bootstrap},
                    )
                self.reachable, self._checked = reachable, True
                await asyncio.sleep(self._interval_s)
        finally:
            await client.close()
