"""Where a consumer generation's reading of each partition starts: Faust's committed offset where it knows
one, else read from Kafka (the group's commit or the partition's first retained offset) and kept for the
commit guard — so that a partition the group never committed is checked like any other."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import faust
from faust.types import TP

from services.common.kafka import KafkaUnavailable
from services.scorer.reading_starts import ReadingStarts
from services.scorer.stalls import Holes


class Message:
    def __init__(self, topic: str, partition: int, offset: int) -> None:
        self.topic, self.partition, self.offset = topic, partition, offset


class Event:
    def __init__(self, topic: str, partition: int, offset: int) -> None:
        self.message = Message(topic, partition, offset)


class Offsets:
    """Kafka's answer (KafkaOffsets.reading_starts), or KafkaUnavailable when ``answer`` is None."""

    def __init__(self, answer: dict[str, int] | None) -> None:
        self.answer, self.asked = answer, list[list[tuple[str, int]]]()

    async def reading_starts(self, group: str, partitions: Iterable[tuple[str, int]]) -> dict[str, int]:
        self.asked.append(sorted(partitions))
        if self.answer is None:
            raise KafkaUnavailable("no broker")
        wanted = {f"{topic}:{partition}" for topic, partition in self.asked[-1]}
        return {tp: offset for tp, offset in self.answer.items() if tp in wanted}


def starts_for(tmp_path: Path, answer: dict[str, int] | None) -> tuple[ReadingStarts, Offsets, Holes]:
    app = faust.App(f"starts-{tmp_path.name}", broker="kafka://unused:1")
    app.consumer._committed_offset[TP("touchpoints", 0)] = 10  # Faust knows partition 0's commit
    offsets, holes = Offsets(answer), Holes()
    return ReadingStarts(app, offsets, "scorer", {"touchpoints"}, holes), offsets, holes  # type: ignore[arg-type]


async def test_a_partition_faust_knows_no_commit_of_starts_where_kafka_says(tmp_path: Path) -> None:
    reading, offsets, holes = starts_for(tmp_path, {"touchpoints:1": 0})
    batch = [Event("touchpoints", 0, 10), Event("touchpoints", 1, 5), Event("touchpoints", 1, 6)]
    batch.append(Event("erasures", 1, 3))  # compacted: not checked
    assert await reading.of(batch, generation=1) == {"touchpoints:0": 10, "touchpoints:1": 0}
    assert offsets.asked == [[("touchpoints", 1)]]  # one question, for the one Faust did not know
    assert reading.uncommitted == {"touchpoints:1": 0}  # for the commit guard
    # and the first record of partition 1, at 5, is a hole from 0: fetched again
    assert holes.observe(1, "touchpoints:1", 5, 0) == (0, 5)


async def test_only_a_generations_first_records_are_looked_up(tmp_path: Path) -> None:
    reading, offsets, holes = starts_for(tmp_path, {"touchpoints:1": 0})
    await reading.of([Event("touchpoints", 1, 0)], generation=1)
    holes.observe(1, "touchpoints:1", 0, 0)
    assert await reading.of([Event("touchpoints", 1, 1)], generation=1) == {}
    assert await reading.of([Event("touchpoints", 1, 2)], generation=2) == {"touchpoints:1": 0}
    assert len(offsets.asked) == 2  # again in the next generation: another worker may have committed


async def test_without_kafkas_answer_the_start_is_unknown_and_kept_for_nothing(tmp_path: Path) -> None:
    reading, _, _ = starts_for(tmp_path, None)
    assert await reading.of([Event("touchpoints", 1, 5)], generation=1) == {"touchpoints:1": None}
    assert reading.uncommitted == {}
