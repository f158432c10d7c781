"""Defect A: records fetched around a recovery seek never reach the agent, or reach it twice.

faust-streaming 0.15.3 (docs/upstream/faust-streaming/A-seek-epochs.diff):
- ``Recovery.on_recovery_completed`` resumes the stream partitions and only then awaits ``perform_seek`` (a
  round trip per partition). The flow is active by then, so records are fetched from where the consumer
  stood and handed to the agent; the seek then rewinds to the committed offset (those records come again:
  counted twice) and ``flow_control.resume()`` clears the stream queues (those not yet taken are dropped).
- ``Consumer._drain_messages`` keeps handing over a batch fetched *before* the seek (``getmany`` stops only
  on a flow stop or a new generation), takes the jump from the committed offset for a gap (``_add_gap``:
  offsets it will commit past), and sets the read offset after its await, over the seek's: the copies
  fetched again from the committed offset then fail ``offset >= read_offset`` and are dropped (a DEVLOG
  line). The records between were never processed, and the commit goes past them: the 5 events lost in
  a rolling restart (docs/reliability.md, "Root causes").

The fix: seek while the stream partitions are still paused, then resume them. Faust's consumer fetches only
the partitions it has not paused (aiokafka keeps what it prefetched of the others, and a seek discards
that), so nothing is handed over from a position the seek is about to move. And in the fetch loop, a per-
partition seek epoch moved by every seek: a record whose hand-over was under way when its partition was
sought no longer moves the read offset or records a gap; the read offset becomes what the seeks already
make it, the next offset due, and moves only once the conductor has the record.
Copied from faust-streaming 0.15.3 (BSD-3-Clause, (c) Robinhood Markets, Inc. and the faust-streaming
contributors); each change is marked ``(A)``.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any, cast

from faust.transport.consumer import CONSUMER_FETCHING, ensure_TP
from faust.types import TP

from services.faust_fixes.fast_paths import hand_over
from services.faust_fixes.fetch_by_partition import drain_fetch
from services.faust_fixes.inbox import inbox_of


def epochs(consumer: Any) -> defaultdict[TP, int]:
    """The consumer's seek epoch per partition: how many times a seek moved it (twice a seek: as it starts
    and once it is done, so that a fetch in flight during it is stale either way)."""
    try:
        return cast(defaultdict[TP, int], consumer._seek_epochs)
    except AttributeError:
        consumer._seek_epochs = defaultdict(int)
        return cast(defaultdict[TP, int], consumer._seek_epochs)


def moved(consumer: Any, tps: Iterable[Any]) -> None:
    """Every record of ``tps`` fetched before now is stale: it comes again from where the seek puts them."""
    seeks = epochs(consumer)
    for tp in tps:
        seeks[ensure_TP(tp)] += 1


def forget_acknowledged(consumer: Any, tps: Iterable[TP]) -> None:
    """(F) What was acknowledged or taken for a gap before a seek: every record from where the seek put the
    partition comes again, and is acknowledged again once processed. Kept, an acknowledgement of a record
    never processed — one the stream skipped as of an older generation, which Faust acknowledges — lets
    the next commit go past that record while its new copy is still on its way to the agent."""
    for tp in tps:
        consumer._acked.pop(tp, None)
        consumer._acked_index.pop(tp, None)
        consumer._gap.pop(tp, None)


async def seek(self: Any, partition: TP, offset: int) -> None:
    """Seek partition to specific offset."""
    self.log.dev("SEEK %r -> %r", partition, offset)
    moved(self, [partition])  # (A)
    await self._seek(partition, offset)
    moved(self, [partition])  # (A)
    forget_acknowledged(self, [ensure_TP(partition)])  # (F)
    # (A) the next offset due, as perform_seek and seek_wait set it (0 was "not known")
    self._read_offset[ensure_TP(partition)] = offset


async def seek_wait(self: Any, partitions: Mapping[TP, int]) -> None:
    """Seek partitions to specific offsets and wait (recovery, for changelog partitions)."""
    moved(self, partitions)  # (A)
    try:
        await self._thread.seek_wait(partitions)
    finally:
        moved(self, partitions)  # (A)


async def drain_messages(self: Any, fetcher: Any) -> None:  # pragma: no cover (the fetcher's loop)
    """The Fetcher's loop: read records with ``getmany`` and hand each to the conductor (a consumer with an
    inbox: each fetch through ``fetch_by_partition.drain_fetch``)."""
    callback = self.callback
    consumer_should_stop = self._stopped.is_set
    fetcher_should_stop = fetcher._stopped.is_set
    read_offset = self._read_offset  # (A) the next offset due per partition (None: not known)
    seeks = epochs(self)  # (A)
    set_flag, unset_flag = self.diag.set_flag, self.diag.unset_flag
    commit_every = self._commit_every
    acks_enabled_for = self.app.topics.acks_enabled_for
    yield_every, num_since_yield = 100, 0
    inbox = inbox_of(self)  # the scorer's inputs go to its agent in batches, past the conductor (inbox.py)
    try:
        while not (consumer_should_stop() or fetcher_should_stop()):
            set_flag(CONSUMER_FETCHING)
            if inbox is not None:  # a partition at a time into the inbox (fetch_by_partition.py)
                await drain_fetch(self, inbox, seeks, timeout=1.0)
                unset_flag(CONSUMER_FETCHING)
                continue
            ait = cast(AsyncIterator[tuple[TP, Any]], self.getmany(timeout=1.0))
            # Sleeping because sometimes getmany is called in a loop never releasing to the event loop
            await self.sleep(0)
            if not self.should_stop:
                async for tp, message in ait:
                    num_since_yield += 1
                    if num_since_yield > yield_every:
                        await asyncio.sleep(0)
                        num_since_yield = 0
                    epoch, offset, due = seeks.get(tp, 0), message.offset, read_offset[tp]
                    if due is not None and offset < due:
                        self.log.dev("DROPPED MESSAGE ROFF %r: k=%r v=%r", offset, message.key, message.value)
                        continue
                    if commit_every is not None and self._n_acked >= commit_every:
                        self._n_acked = 0
                        await self.commit()
                    # (A) a record only counts as read once the conductor has it, and only if its partition
                    # was not sought meanwhile; the offsets it jumped over are not in the topic (a gap)
                    delivered = await hand_over(self, callback(message))
                    if delivered and seeks.get(tp, 0) == epoch:
                        read_offset[tp] = offset + 1
                        if due is not None and offset > due and acks_enabled_for(message.topic):
                            await self._add_gap(tp, due, offset - 1)
                unset_flag(CONSUMER_FETCHING)
    except self.consumer_stopped_errors:
        if self.transport.app.should_stop:
            self.log.info("Broker stopped consumer, shutting down...")
            return
        raise
    except asyncio.CancelledError:
        if self.transport.app.should_stop:
            self.log.info("Consumer shutting down for user cancel.")
            return
        raise
    except Exception as exc:
        self.log.exception("Drain messages raised: %r", exc)
        raise
    finally:
        unset_flag(CONSUMER_FETCHING)


async def on_recovery_completed(self: Any, generation_id: int = 0) -> None:
    """Call when active table recovery is completed."""
    consumer = self.app.consumer
    self.log.info("Restore complete!")
    await self.app.on_rebalance_complete.send()
    self._set_recovery_ended()
    # This needs to happen if all goes well
    callback_coros = [
        asyncio.ensure_future(
            table.on_recovery_completed(self.actives_for_table[table], self.standbys_for_table[table])
        )
        for table in self.tables.values()
    ]
    if callback_coros:
        await asyncio.wait(callback_coros)
    assignment = consumer.assignment()
    if self.app.consumer_generation_id != generation_id:
        self.log.warning(
            f"Recovery rebalancing again app id {self.app.consumer_generation_id} param {generation_id}"
        )
        return
    if assignment:  # (A) seek while the stream partitions are paused, then resume them
        self.log.info("Seek stream partitions to committed offsets.")
        await self._wait(consumer.perform_seek(), timeout=self.app.conf.broker_request_timeout)
    consumer.resume_partitions({tp for tp in assignment if not self._is_changelog_tp(tp)})
    self.completed.set()
    self.log.dev("Resume stream partitions")
    self.app.flow_control.resume()
    consumer.resume_flow()
    # finally make sure the fetcher is running.
    await self.app._fetcher.maybe_start()
    self.tables.on_actives_ready()
    if not self.app.assignor.assigned_standbys():
        self.tables.on_standbys_ready()
    self.app.on_rebalance_end()
    self.log.info("Worker ready")


async def resume_streams(self: Any, generation_id: int = 0) -> None:
    """Recovery's path for an app without tables: the same order as ``on_recovery_completed``."""
    app = self.app
    consumer = app.consumer
    await app.on_rebalance_complete.send()
    assignment = consumer.assignment()
    if self.app.consumer_generation_id != generation_id:
        self.log.warning("Recovery rebalancing again")
        return
    if assignment:  # (A) seek while the stream partitions are paused, then resume them
        self.log.info("Seek stream partitions to committed offsets.")
        await self._wait(consumer.perform_seek(), timeout=self.app.conf.broker_request_timeout)
        self.log.dev("Resume stream partitions")
        consumer.resume_partitions({tp for tp in assignment if not self._is_changelog_tp(tp)})
    else:
        self.log.info("Resuming streams with empty assignment")
    self.completed.set()
    # Resume partitions and start fetching.
    self.log.info("Resuming flow...")
    app.flow_control.resume()
    consumer.resume_flow()
    # finally make sure the fetcher is running.
    await app._fetcher.maybe_start()
    self.tables.on_actives_ready()
    self.tables.on_standbys_ready()
    app.on_rebalance_end()
    self.log.info("Worker ready")
