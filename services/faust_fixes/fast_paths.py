"""Faust's per-record asyncio work, cut where a record needs no waiting (docs/performance.md, "Faust's
per-record waits"). Not a defect: a speed-up, held to the same standard as the fixes beside it (each has a
test that counts the tasks Faust's own path makes and this one does not, tests/unit/faust_fixes/).

- ``hand_over``: the fetch loop (``seek_epochs.drain_messages``) hands each record to the conductor. Faust
  awaits ``wait_first(callback(message), suspend_flow.wait())``: four tasks, an ``asyncio.wait`` and three
  cancels per record (~43 µs here), where the callback (put the record on a stream's queue) nearly always
  finishes at once. ``hand_over`` runs the callback's first step in the fetch loop's own task; only a callback
  that waits (a full queue) goes on through Faust's ``wait_first``, so a suspended flow still cancels it.
- ``wait_for``: recovery takes each changelog record through ``asyncio.wait_for(queue.get(), 5.0)`` (a task
  and a timer per record); the same first step, then ``asyncio.wait_for`` only if the get has to wait.
- ``need_recovery``: recovery asks after every changelog record whether any active changelog partition has
  records left; Faust counts them all (a ``Counter`` over every partition), this stops at the first.
"""

from __future__ import annotations

import asyncio
import inspect
import types
from collections.abc import Coroutine, Generator
from typing import Any


class Finished(Exception):
    """Carries the value of a coroutine that finished in its first step."""

    def __init__(self, value: Any) -> None:
        self.value = value


class _Resumed:
    """An awaitable that carries on a coroutine which already ran up to its first wait (on ``yielded``):
    the awaiting task waits on what the coroutine waits on, and sends and throws into it, as ``await`` on
    the coroutine itself would have from the start."""

    __slots__ = ("_coroutine", "_yielded")

    def __init__(self, coroutine: Coroutine[Any, Any, Any], yielded: Any) -> None:
        self._coroutine = coroutine
        self._yielded = yielded

    def __await__(self) -> Generator[Any, Any, Any]:
        coroutine, yielded = self._coroutine, self._yielded
        while True:
            try:
                sent = yield yielded
            except GeneratorExit:
                coroutine.close()
                raise
            except BaseException as exc:  # a cancellation or an error thrown in: the coroutine's to handle
                try:
                    yielded = coroutine.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    yielded = coroutine.send(sent)
                except StopIteration as stop:
                    return stop.value


async def resumed(coroutine: Coroutine[Any, Any, Any], yielded: Any) -> Any:
    """The rest of ``coroutine`` (stopped at its first wait, on ``yielded``) as a coroutine of its own."""
    return await _Resumed(coroutine, yielded)


def first_step(coroutine: Coroutine[Any, Any, Any]) -> Coroutine[Any, Any, Any]:
    """Run ``coroutine`` up to its first wait in the calling task. Raises ``Finished`` with its result if it
    finished without waiting (and whatever it raised, if it failed); else returns a coroutine that carries
    on from where it stopped."""
    try:
        yielded = coroutine.send(None)
    except StopIteration as stop:
        raise Finished(stop.value) from None
    return resumed(coroutine, yielded)


async def hand_over(consumer: Any, delivery: Coroutine[Any, Any, Any]) -> bool:
    """Run the conductor's ``delivery`` of one record; whether it completed. False when the consumer's flow
    was suspended first (a rebalance: Faust cancels a delivery stuck on a full queue) or it stopped."""
    try:
        rest = first_step(delivery)
    except Finished:
        return True
    outcome = await consumer.wait_first(rest, consumer.suspend_flow.wait())
    return rest in outcome.done


async def wait_for(aw: Any, timeout: float | None) -> Any:  # noqa: ASYNC109 (asyncio's signature)
    """``asyncio.wait_for`` without a task and a timer when ``aw`` is a coroutine that needs no waiting."""
    if not inspect.iscoroutine(aw):
        return await asyncio.wait_for(aw, timeout)
    try:
        rest = first_step(aw)
    except Finished as finished:
        return finished.value
    return await asyncio.wait_for(rest, timeout)


class RecoveryAsyncio(types.ModuleType):
    """What Faust's recovery module sees as ``asyncio``: asyncio itself, but ``wait_for`` as above."""

    wait_for = staticmethod(wait_for)

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)


def need_recovery(self: Any) -> bool:
    """``Recovery.need_recovery`` (some active changelog partition has records left) without counting every
    partition's remaining records."""
    offsets = self.active_offsets
    for tp, highwater in self.active_highwaters.items():
        if highwater is not None:
            offset = offsets[tp]
            if offset is not None and highwater - offset > 0:
                return True
    return False
