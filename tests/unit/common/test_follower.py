"""A view's follower keeps reconnecting to Kafka, even past a consumer that never finishes stopping."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
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


async def test_a_consumer_that_never_stops_is_left_behind_and_the_follower_reconnects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def topics_exist(settings: CommonSettings) -> None:
        return None

    monkeypatch.setattr(follower, "AIOKafkaConsumer", NeverStops)
    monkeypatch.setattr(follower, "ensure_topics", topics_exist)
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
