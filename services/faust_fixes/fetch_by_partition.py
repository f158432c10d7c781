"""One fetch of a consumer with an inbox (services/faust_fixes/inbox.py), handed over a partition at a time
(not a defect: a speed-up; docs/performance.md, "A fetch handed over a partition at a time").

Faust's ``getmany`` yields a fetch's records one by one, and the fetch loop (``seek_epochs.drain_messages``)
then checks and hands over each: per record, the flow and the consumer generation looked at, the partition's
activity, its highwater looked up and reported, a message made, the seek epoch and read offset read, the
commit threshold checked, the inbox offered it, the read offset moved. Nothing of that can change between two
records unless the loop awaits — and handing a record to an inbox with room awaits nothing. So here the
records of an inbox topic's partition go in one step: every check once, then as many records as the inbox has
room for, each below the read offset dropped as before, the read offset moved to after the last, each jump in
the offsets recorded as a gap as the record-by-record path records it. What the inbox has no room for, and
the records of other topics (changelogs being recovered), take the record-by-record path with every check.

Copied from faust-streaming 0.15.3's ``Consumer.getmany`` and ``_drain_messages`` (BSD-3-Clause, (c)
Robinhood Markets, Inc. and the faust-streaming contributors), with fix A's seek epochs (seek_epochs.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

from faust.types import TP

from services.faust_fixes.fast_paths import hand_over
from services.faust_fixes.inbox import Inbox

YIELD_EVERY = 100  # records handed over between two turns given to the event loop, as Faust's loop


async def drain_fetch(self: Any, inbox: Inbox, epochs: dict[TP, int], timeout: float) -> None:  # noqa: ASYNC109
    """Wait for one fetch (``timeout`` at most) and hand over its records: Faust's ``getmany`` and the body
    of the fetch loop, a partition at a time for the inbox's topics."""
    await self.sleep(0)  # as the fetch loop: getmany may be called in a loop never releasing to the loop
    if self.should_stop:
        return
    records, active_partitions = await self._wait_next_records(timeout)
    generation_id = self.app.consumer_generation_id
    if records is None or self.should_stop:
        return
    if not self.flow_active:
        self.log.dev("getmany called while flow not active. Seek back to committed offsets.")
        try:
            await self.perform_seek()
        except Exception as ex:
            self.log.warning(f"exception performing seek when flow not active {ex}")
        return
    since_yield = 0
    for tp, fetched in records.items():
        at = 0
        while at < len(fetched):
            if not self.flow_active or self.app.consumer_generation_id != generation_id:
                return  # as getmany: the rest of the fetch is dropped (it comes again after the seek)
            if not (active_partitions is None or tp in active_partitions or tp in self._buffered_partitions):
                at += 1  # as getmany: a record of a partition not active is skipped
                continue
            self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
            commit_every = self._commit_every
            if commit_every is not None and self._n_acked >= commit_every:
                self._n_acked = 0
                await self.commit()
                continue  # the checks again: the commit awaited
            taken = 0
            if tp.topic in inbox.topics:
                taken, gaps = take(self, inbox, tp, fetched, at)
                for first, last in gaps:
                    await self._add_gap(tp, first, last)
            if taken == 0:  # no room (or not the inbox's): one record, with every check
                await one_record(self, inbox, tp, self._to_message(tp, fetched[at]), epochs)
                taken = 1
            at += taken
            since_yield += taken
            if since_yield > YIELD_EVERY:
                await asyncio.sleep(0)
                since_yield = 0


def take(self: Any, inbox: Inbox, tp: TP, fetched: list[Any], at: int) -> tuple[int, list[tuple[int, int]]]:
    """From ``fetched[at]`` on, as many records of ``tp`` as the inbox has room for, in one step (nothing
    awaited): how many were used (handed over or dropped below the read offset) and the gaps to record."""
    read_offset = self._read_offset
    due = read_offset[tp]
    room = inbox.room()
    acks_enabled = self.app.topics.acks_enabled_for(tp.topic)
    to_message = self._to_message
    messages: list[Any] = []
    gaps: list[tuple[int, int]] = []
    used = 0
    for record in fetched[at:]:
        offset = record.offset
        if due is not None and offset < due:
            self.log.dev("DROPPED MESSAGE ROFF %r: k=%r v=%r", offset, record.key, record.value)
            used += 1
            continue
        if len(messages) >= room:
            break
        messages.append(to_message(tp, record))
        used += 1
        if due is not None and offset > due and acks_enabled:
            gaps.append((due, offset - 1))
        due = offset + 1
    if messages:
        inbox.put(messages)
        read_offset[tp] = due  # (A) no seek can have moved it: nothing was awaited
    return used, gaps


async def one_record(self: Any, inbox: Inbox, tp: TP, message: Any, epochs: dict[TP, int]) -> None:
    """The fetch loop's body for one record (seek_epochs.drain_messages, fix A's epochs)."""
    read_offset = self._read_offset
    epoch, offset, due = epochs.get(tp, 0), message.offset, read_offset[tp]
    if due is not None and offset < due:
        self.log.dev("DROPPED MESSAGE ROFF %r: k=%r v=%r", offset, message.key, message.value)
        return
    if message.topic in inbox.topics:
        delivered = inbox.offer(message) or await hand_over(self, inbox.deliver(message))
    else:
        delivered = await hand_over(self, self.callback(message))
    if delivered and epochs.get(tp, 0) == epoch:
        read_offset[tp] = offset + 1
        if due is not None and offset > due and self.app.topics.acks_enabled_for(message.topic):
            await self._add_gap(tp, due, offset - 1)
