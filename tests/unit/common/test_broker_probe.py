"""Readiness asks every broker at once: one broker that went silent (alive, behind a partition) must not
make the whole cluster look unreachable, and a cluster where none answers is reported unreachable."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiokafka.errors import KafkaConnectionError

from services.common.kafka import any_broker_answers


@dataclass
class Broker:
    nodeId: int  # aiokafka's name


class FakeClient:
    """Brokers that answer, fail at once, or never answer."""

    def __init__(self, behaviour: dict[int, str]) -> None:
        self.behaviour = behaviour
        self.cluster = self
        self.asked: list[int] = []

    def brokers(self) -> list[Broker]:
        return [Broker(node) for node in self.behaviour]

    async def send(self, node: int, request: Any) -> str:
        self.asked.append(node)
        match self.behaviour[node]:
            case "silent":
                await asyncio.sleep(3600)
            case "refuses":
                raise KafkaConnectionError("refused")
        return "metadata"


async def test_a_silent_broker_does_not_hide_the_others() -> None:
    client = FakeClient({1: "silent", 2: "silent", 3: "answers"})
    assert await any_broker_answers(client, timeout_s=1)  # type: ignore[arg-type]
    assert sorted(client.asked) == [1, 2, 3]  # asked at once, not one after the other


async def test_a_refusing_broker_is_passed_over() -> None:
    assert await any_broker_answers(FakeClient({1: "refuses", 2: "answers"}), timeout_s=1)  # type: ignore[arg-type]


async def test_no_broker_answering_in_time_is_unreachable() -> None:
    assert not await any_broker_answers(FakeClient({1: "silent", 2: "refuses"}), timeout_s=0.2)  # type: ignore[arg-type]
    assert not await any_broker_answers(FakeClient({1: "refuses", 2: "refuses"}), timeout_s=1)  # type: ignore[arg-type]
