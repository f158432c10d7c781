"""Every producer writes with acks=all and idempotence (issue 34: nothing held it): a record Kafka
acknowledged is on every in-sync replica, and a producer's own retry never writes it twice."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVICES = Path(__file__).resolve().parents[2] / "services"


def producer_calls() -> list[tuple[str, ast.Call]]:
    calls = []
    for path in sorted(SERVICES.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "AIOKafkaProducer":
                calls.append((str(path.relative_to(SERVICES)), node))
    return calls


def test_there_are_producers_to_check() -> None:
    assert {where for where, _ in producer_calls()} >= {"common/kafka.py"}


@pytest.mark.parametrize(("where", "call"), producer_calls(), ids=lambda value: str(value)[:40])
def test_every_aiokafka_producer_waits_for_all_replicas_and_is_idempotent(where: str, call: ast.Call) -> None:
    given = {keyword.arg: keyword.value for keyword in call.keywords}
    assert isinstance(given.get("acks"), ast.Constant) and given["acks"].value == "all", where
    idempotence = given.get("enable_idempotence")
    assert isinstance(idempotence, ast.Constant) and idempotence.value is True, where


def test_the_scorer_writes_nothing_through_fausts_own_producer() -> None:
    """Faust's producer is acks=all but not idempotent: the scorer sends through its ReliableProducer."""
    for path in sorted((SERVICES / "scorer").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) in {"send", "send_soon"}:
                raise AssertionError(f"{path.name}:{node.lineno} sends with Faust's producer")
