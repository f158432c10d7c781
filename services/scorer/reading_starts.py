"""Where each consumer generation's reading of a partition starts, checked at its first record (the scorer's
agent calls it for every batch; services/scorer/stalls.py ``Holes`` does the checking).

Faust knows a partition's committed offset once this worker committed it or its recovery sought to it. A
partition the group never committed (a worker killed before its first commit, a new topic) has none: Faust
then checks nothing — its head-gap rule needs a committed offset, and its seek back to the committed offsets
(aiokafka's ``seek_to_committed``) leaves such a partition where it is. Records of it fetched and dropped
before the agent (docs/reliability.md, "A worker that fetched records and never scored them") would be
committed past or never come again. So where Faust knows no commit, the start is read from Kafka: the
group's commit, else the partition's first retained offset — and kept in ``uncommitted`` for the commit
guard (services/scorer/stores.py ``guard_commits``) until this worker's own first commit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from services.common.group_offsets import KafkaOffsets
from services.common.kafka import KafkaUnavailable
from services.scorer.stalls import Holes
from services.scorer.stores import committed_offset

log = logging.getLogger(__name__)


class ReadingStarts:
    """For each batch, where the reading of each partition whose first record in this consumer generation
    the batch holds began; logged beside that first record's offset."""

    def __init__(self, app: Any, offsets: KafkaOffsets, group: str, gapless: set[str], holes: Holes) -> None:
        self._app, self._offsets, self._group = app, offsets, group
        self._gapless, self._holes = gapless, holes
        self.uncommitted: dict[str, int] = {}  # "topic:partition" -> start read from Kafka (Faust knew none)

    async def of(self, batch: Iterable[Any], generation: int) -> dict[str, int | None]:
        """ "topic:partition" -> where its reading started (None: not known), for each gapless partition
        whose first record of ``generation`` is in ``batch``."""
        firsts: dict[str, Any] = {}
        for event in batch:
            message = event.message
            tp = f"{message.topic}:{message.partition}"
            if message.topic in self._gapless and tp not in firsts and self._holes.is_first(generation, tp):
                firsts[tp] = message
        starts = {tp: committed_offset(self._app, m.topic, m.partition) for tp, m in firsts.items()}
        unknown = [(m.topic, m.partition) for tp, m in firsts.items() if starts[tp] is None]
        read: dict[str, int] = {}
        if unknown:
            try:
                read = await self._offsets.reading_starts(self._group, unknown)
            except KafkaUnavailable as error:  # unchecked, as Faust would; the stall watch still looks
                log.warning("could not read where partitions start", extra={"error": str(error)})
            starts.update(read)
            self.uncommitted.update(read)
        for tp, message in firsts.items():
            log.info(
                "first record of a partition in this consumer generation",
                extra={
                    "tp": tp,
                    "offset": message.offset,
                    "committed": starts[tp],
                    "from_kafka": tp in read,
                    "generation": generation,
                },
            )
        return starts
