"""Fixes to faust-streaming where it loses, repeats or wrongly commits records, applied as the scorer starts.

Each fix replaces a method of Faust's with a copy of the pinned release's (``PINNED``), changed where the
copy marks it, and is named after its defect (docs/reliability.md, "Root causes"; the same changes as
unified diffs a maintainer can apply: docs/upstream/):

- A ``seek_epochs``: records fetched around a recovery seek never reach the agent, or reach it twice;
- B ``head_commits``: a commit past the unacknowledged record at the committed offset (faust-streaming#606);
- C ``uncommitted_starts``: a partition never committed, or committed at 0, is not sought (aiokafka#1003);
- D ``cancelled_batches``: a batch the agent never finished is acknowledged when its generator is closed;
- F (in ``seek_epochs``, ``uncommitted_starts``): acknowledgements from before a seek outlive it, those of
  records Faust's pure-Python stream skipped as of an older generation included;
- G ``fetch_snapshots``: a fetch under way when the last active partition is paused returns (and loses)
  every partition's records;
- and ``fast_paths``, not a defect: the per-record hand-over and recovery reads without a task per record;
  ``inbox``, not a defect either: the scorer's input records handed to its agent in whole batches, each
  fetch's records a partition at a time (``fetch_by_partition``, a copy of ``getmany`` and the fetch loop).

Every fix has a test that drives Faust's own code with it and without it (tests/unit/faust_fixes/): the
defect shows without, and not with. ``install`` refuses another release of faust-streaming: the copies are of
this one's code, and a new release needs them compared again (and perhaps fewer of them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import faust
import faust.tables.recovery
from faust.streams import Stream
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer, ThreadDelegateConsumer

from services.faust_fixes import (
    cancelled_batches,
    fast_paths,
    fetch_snapshots,
    head_commits,
    inbox,
    seek_epochs,
    uncommitted_starts,
)

PINNED = "0.15.3"  # the release the copies were made from, as pinned in pyproject.toml


class FaustFixesOutOfDate(RuntimeError):
    """The installed faust-streaming is not the release these fixes were made for."""


@dataclass(frozen=True)
class Replacement:
    owner: Any  # a class or module of Faust's
    name: str
    fixed: Any


@dataclass(frozen=True)
class Fix:
    name: str
    defect: str
    replacements: tuple[Replacement, ...]


FIXES = (
    Fix(
        "seek_epochs",
        "A: records fetched around a recovery seek never reach the agent, or reach it twice",
        (
            Replacement(Consumer, "_drain_messages", seek_epochs.drain_messages),
            Replacement(Consumer, "seek", seek_epochs.seek),
            Replacement(ThreadDelegateConsumer, "seek_wait", seek_epochs.seek_wait),
            Replacement(Recovery, "on_recovery_completed", seek_epochs.on_recovery_completed),
            Replacement(Recovery, "_resume_streams", seek_epochs.resume_streams),
        ),
    ),
    Fix(
        "head_commits",
        "B: a commit past the record at the committed offset (faust-streaming#606)",
        (
            Replacement(Consumer, "_new_offset", head_commits.new_offset),
            Replacement(Consumer, "_add_gap", head_commits.add_gap),
        ),
    ),
    Fix(
        "uncommitted_starts",
        "C: partitions never committed, or committed at 0, are not sought (aiokafka#1003)",
        (Replacement(Consumer, "perform_seek", uncommitted_starts.perform_seek),),
    ),
    Fix(
        "fetch_snapshots",
        "G: a fetch under way when the last active partition is paused returns every partition's records",
        (Replacement(Consumer, "_wait_next_records", fetch_snapshots.wait_next_records),),
    ),
    Fix(
        "cancelled_batches",
        "D: take() and take_events() acknowledge a batch the agent never finished",
        (
            Replacement(Stream, "take", cancelled_batches.take),
            Replacement(Stream, "take_events", cancelled_batches.take_events),
        ),
    ),
)
FAST_PATHS = Fix(
    "fast_paths",
    "not a defect: recovery's per-record reads without a task per record (the hand-over is in seek_epochs)",
    (
        Replacement(Recovery, "need_recovery", fast_paths.need_recovery),
        Replacement(faust.tables.recovery, "asyncio", fast_paths.RecoveryAsyncio("asyncio")),
    ),
)


RELEASED = {
    (id(r.owner), r.name): r.owner.__dict__[r.name] for f in (*FIXES, FAST_PATHS) for r in f.replacements
}


def check_version() -> None:
    if faust.__version__ != PINNED:
        raise FaustFixesOutOfDate(
            f"faust-streaming {faust.__version__} is installed; services/faust_fixes holds fixes copied from "
            f"{PINNED} (pyproject.toml pins it): compare them with the new release first (docs/upstream/)"
        )


def install(fixes: tuple[Fix, ...] = (*FIXES, FAST_PATHS)) -> Callable[[], None]:
    """Put ``fixes`` in place in Faust's classes (before the worker starts); what puts Faust's own back."""
    check_version()
    originals = [(r.owner, r.name, r.owner.__dict__[r.name]) for fix in fixes for r in fix.replacements]
    for fix in fixes:
        for replacement in fix.replacements:
            setattr(replacement.owner, replacement.name, replacement.fixed)

    def restore() -> None:
        for owner, name, original in reversed(originals):
            setattr(owner, name, original)

    return restore


@contextmanager
def installed(fixes: tuple[Fix, ...] = (*FIXES, FAST_PATHS)) -> Iterator[None]:
    """``fixes`` in force for the ``with`` block only (the tests run Faust's code both ways)."""
    restore = install(fixes)
    try:
        yield
    finally:
        restore()


declare_gapless = head_commits.declare_gapless
attach_inbox = inbox.attach


def reading_start(consumer: Any, topic: str, partition: int) -> int | None:
    """Where the consumer's reading of a partition started in this consumer generation (the committed offset,
    or with none the ``auto_offset_reset`` position, as the fixed ``perform_seek`` records it) or how far
    its last commit reached; None: not known."""
    from faust.types import TP

    start: int | None = consumer._committed_offset.get(TP(topic, partition))
    return start


@contextmanager
def as_released() -> Iterator[None]:
    """Faust's own code, as released, for the ``with`` block, whatever is installed (the tests' "without")."""
    replacements = [r for fix in (*FIXES, FAST_PATHS) for r in fix.replacements]
    current = [(r, r.owner.__dict__[r.name]) for r in replacements]
    for r in replacements:
        setattr(r.owner, r.name, RELEASED[(id(r.owner), r.name)])
    try:
        yield
    finally:
        for r, value in current:
            setattr(r.owner, r.name, value)


def not_in_force(fixes: tuple[Fix, ...] = FIXES) -> list[str]:
    """The fixes of ``fixes`` that are not in place (the scorer's start-up check; by identity and the pin)."""
    problems = []
    if faust.__version__ != PINNED:
        problems.append(f"faust-streaming {faust.__version__} is not the pinned {PINNED}")
    for fix in fixes:
        for r in fix.replacements:
            if r.owner.__dict__.get(r.name) is not r.fixed:
                problems.append(
                    f"{fix.name}: {getattr(r.owner, '__name__', r.owner)}.{r.name} is Faust's own"
                )
    return problems
