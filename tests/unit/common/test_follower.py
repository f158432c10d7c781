"""A view's follower keeps reconnecting to Kafka, even past a consumer that never finishes stopping; what
waits for its replay to end runs once, after the last record and before it says it is ready."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError

from services.common import follower
from services.common.settings import CommonSettings


class NeverStops:
    """A consumer whose start fails and whose stop then hangs (as one seen in a clean-clone run)."""

    made = 0

    def __init__(self, *topics: str, **options: Any) -> None:
        NeverStops.made += 1

    async def start(self) -> None:
        raise KafkaConnectionError("broker away")

    async def stop(self) -> None:
        await asyncio.Event().wait()


@pytest.fixture(autouse=True)
def topics_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    """No broker here: the topics the follower would make sure of are taken as there."""

    async def there(settings: CommonSettings) -> None:
        return None

    monkeypatch.setattr(follower, "ensure_topics", there)


async def test_a_consumer_that_never_stops_is_left_behind_and_the_follower_reconnects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(follower, "AIOKafkaConsumer", NeverStops)
    monkeypatch.setattr(follower, "STOP_WAIT_S", 0.05)
    NeverStops.made = 0
    view = follower.TopicFollower(CommonSettings(), "api", {"scores": lambda record: None})
    running = asyncio.create_task(view.run(retry_s=0.01))
    try:
        await asyncio.sleep(0.5)
    finally:
        running.cancel()
    assert NeverStops.made >= 3  # a fresh consumer each time, none waiting on the one before
    assert not view.ready.is_set()


class TwoRecords:
    """A consumer of one partition holding two records, read in one fetch."""

    def __init__(self, *topics: str, **options: Any) -> None:
        self.tp = TopicPartition("scores", 0)
        self.fetched = False

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def assignment(self) -> set[TopicPartition]:
        return {self.tp}

    async def seek_to_beginning(self, *partitions: TopicPartition) -> bool:
        return True

    async def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {self.tp: 2}

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Any]]:
        if self.fetched:
            await asyncio.sleep(timeout_ms / 1000)
            return {}
        self.fetched = True
        return {self.tp: [SimpleNamespace(offset=n, key=b"k", value=b"v") for n in range(2)]}

    def highwater(self, tp: TopicPartition) -> int:
        return 2

    async def position(self, tp: TopicPartition) -> int:
        return 2 if self.fetched else 0


async def test_what_waits_for_the_replay_to_end_runs_once_after_every_record_and_before_ready(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(follower, "AIOKafkaConsumer", TwoRecords)
    seen: list[str] = []

    def caught_up() -> None:
        seen.append(f"caught up (ready: {view.ready.is_set()})")

    view = follower.TopicFollower(
        CommonSettings(), "api", {"scores": lambda record: seen.append(f"record {record.offset}")}, caught_up
    )
    running = asyncio.create_task(view.run())
    try:
        await asyncio.wait_for(view.ready.wait(), timeout=5)
        await asyncio.sleep(0.05)
    finally:
        running.cancel()
    assert seen == ["record 0", "record 1", "caught up (ready: False)"]
    assert view.caught_up
