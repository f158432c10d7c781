"""Faust's per-record asyncio overhead, cut where a record needs no waiting (docs/performance.md, "Faust's
per-record waits").

faust-streaming hands every fetched record to its conductor through ``Consumer._drain_messages``, which awaits
``self.wait_first(callback(message), self.suspend_flow.wait())``: mode's ``wait_first`` wraps each
coroutine, and the service's stopped and crashed events, in a task of its own, waits for the first and
cancels the rest — four tasks per record, ~43 µs on this kind of machine, where the callback itself (put
the record on a stream's or the changelog's queue) nearly always finishes without waiting. Recovery then
takes each changelog record off its queue through ``asyncio.wait_for(queue.get(), timeout=5.0)`` (a task
and a timer per record) and asks ``need_recovery()`` after each (a ``Counter`` over every changelog
partition). Together they were most of a memory-store restart's time.

So, with the same outcomes:

- ``first_step`` runs a coroutine's first step in the calling task. If it finishes there, its result is
  what a task running it would have returned; if it waits, the rest runs as it would have (``resumed``
  hands the coroutine, mid-way, to whatever task awaits it), so the cancellation Faust relies on — a
  suspended flow cancels a callback stuck on a full queue — is unchanged;
- ``need_recovery`` answers as Faust's does (some active changelog partition has records left) and stops
  at the first such partition instead of counting them all.

``install()`` puts them in place in Faust's classes, before the worker starts (``MP_SCORER_FAUST_FAST_PATHS``,
on by default); ``check_fast_paths`` (called by ``check_faust_internals``) names what of Faust's code they
lean on and is no longer as expected.
"""

from __future__ import annotations

import asyncio
import inspect
import types
from collections.abc import Coroutine, Generator
from typing import Any

import faust
import faust.tables.recovery
from faust.transport.consumer import Consumer
from mode.services import Service, WaitResults

FAUSTS_NEED_RECOVERY = faust.tables.recovery.Recovery.need_recovery  # Faust's own, as imported


class _Finished(Exception):
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
    """Run ``coroutine`` up to its first wait in the calling task. Raises ``_Finished`` with its result if
    it finished without waiting (and whatever it raised, if it failed); else returns a coroutine that
    carries on from where it stopped."""
    try:
        yielded = coroutine.send(None)
    except StopIteration as stop:
        raise _Finished(stop.value) from None
    return resumed(coroutine, yielded)


async def _wait_first(self: Any, *coros: Any, timeout: Any = None) -> WaitResults:  # noqa: ASYNC109 (mode's)
    """The consumer's ``wait_first`` (called by its fetch loop once per record, with the conductor's
    callback first) without a task per record when the callback needs no waiting."""
    first, *others = coros
    if timeout is not None or not inspect.iscoroutine(first):
        return await Service.wait_first(self, *coros, timeout=timeout)
    try:
        rest = first_step(first)
    except _Finished as finished:
        _close(others)
        if self._stopped.is_set() or self._crashed.is_set():
            return WaitResults([], [], True)
        return WaitResults([first], [finished.value], False)
    except BaseException:
        _close(others)
        raise
    return await Service.wait_first(self, rest, *others)


def _close(coros: list[Any]) -> None:
    """Close coroutines never started, so none is reported as never awaited."""
    for coro in coros:
        if inspect.iscoroutine(coro):
            coro.close()


async def _wait_for(aw: Any, timeout: float | None) -> Any:  # noqa: ASYNC109 (asyncio's signature)
    """``asyncio.wait_for`` without a task and a timer when ``aw`` is a coroutine that needs no waiting."""
    if not inspect.iscoroutine(aw):
        return await asyncio.wait_for(aw, timeout)
    try:
        rest = first_step(aw)
    except _Finished as finished:
        return finished.value
    return await asyncio.wait_for(rest, timeout)


class _RecoveryAsyncio(types.ModuleType):
    """What Faust's recovery module sees as ``asyncio``: asyncio itself, but ``wait_for`` as above."""

    wait_for = staticmethod(_wait_for)

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)


def _need_recovery(self: Any) -> bool:
    """Recovery's ``need_recovery`` (some active changelog partition has records left) without counting
    every partition's remaining records."""
    offsets = self.active_offsets
    for tp, highwater in self.active_highwaters.items():
        if highwater is not None:
            offset = offsets[tp]
            if offset is not None and highwater - offset > 0:
                return True
    return False


def install() -> None:
    """Put the fast paths in place in Faust's consumer and recovery (before the worker starts)."""
    Consumer.wait_first = _wait_first
    faust.tables.recovery.Recovery.need_recovery = _need_recovery
    faust.tables.recovery.asyncio = _RecoveryAsyncio("asyncio")


def check_fast_paths() -> list[str]:
    """What of Faust's code the fast paths lean on and is no longer as expected."""
    problems = []
    drain = inspect.getsource(Consumer._drain_messages)
    if "self.wait_first(\n" not in drain and "self.wait_first(callback(message)" not in drain:
        problems.append("Consumer._drain_messages no longer hands records over through self.wait_first")
    recovery = faust.tables.recovery
    slurp_task = recovery.Recovery._slurp_changelogs  # a mode ServiceTask: the coroutine function is .fun
    slurp = inspect.getsource(getattr(slurp_task, "fun", slurp_task))
    if "asyncio.wait_for(" not in slurp or "self.need_recovery()" not in slurp:
        problems.append("Recovery._slurp_changelogs no longer awaits asyncio.wait_for or asks need_recovery")
    seen = getattr(recovery, "asyncio", None)
    if seen is not asyncio and not isinstance(seen, _RecoveryAsyncio):
        problems.append("faust.tables.recovery no longer imports asyncio as a module")
    need = inspect.getsource(FAUSTS_NEED_RECOVERY)  # Faust's, also once install() has replaced it
    if "active_remaining()" not in need or "v > 0" not in need:
        problems.append("Recovery.need_recovery no longer asks whether an active partition has records left")
    return problems
