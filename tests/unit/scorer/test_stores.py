"""The scorer's direct use of Faust's table stores: it fails loudly when faust-streaming changes what it
relies on, and a key written through it lands in (and is read from) its own partition's store."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import faust
import pytest
from faust.types import TP

from services.common.kafka import Written
from services.scorer.stalls import HeldCommits
from services.scorer.stores import (
    BatchStores,
    batches_acknowledged_when_done,
    check_faust_internals,
    fetch_again_from_committed,
    guard_commits,
    note_persisted_offsets,
    withheld_commits,
)


class Message:
    def __init__(self, partition: int) -> None:
        self.partition = partition


class Event:
    """What BatchStores needs of a Faust event: its message's partition (and a weak reference to it)."""

    def __init__(self, partition: int) -> None:
        self.message = Message(partition)


def test_the_installed_faust_streaming_has_every_internal_the_scorer_uses() -> None:
    check_faust_internals()  # raises FaustInternalsChanged, naming each difference


@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
def test_a_write_lands_in_its_partitions_store_and_reads_back_from_it(tmp_path: Path, store: str) -> None:
    app = faust.App(f"stores-{tmp_path.name}", store=store, datadir=str(tmp_path), broker="kafka://unused:1")
    table = app.Table("states", partitions=4, key_type=bytes, value_type=bytes)
    events = [Event(0), Event(2)]
    stores = BatchStores(events)

    record = stores.write(table, b"c-1", b"state", partition=2)
    assert (record.topic, record.key, record.value, record.partition) == (
        table.changelog_topic_name,
        b"c-1",
        b"state",
        2,
    )
    assert stores.read(table, b"c-1", partition=2) == b"state"
    if store == "rocksdb://":  # each partition has a database of its own: not in partition 0's
        assert stores.read(table, b"c-1", partition=0) is None
    deleted = stores.write(table, b"c-1", None, partition=2)
    assert deleted.value is None and stores.read(table, b"c-1", partition=2) is None


def test_the_newest_written_offset_per_changelog_partition_is_noted_as_persisted(tmp_path: Path) -> None:
    noted: list[tuple[TP, int]] = []

    class Store:
        def set_persisted_offset(self, tp: TP, offset: int) -> None:
            noted.append((tp, offset))

    class Table:
        data: Any = Store()

    written = [Written("changelog", 1, 5), Written("changelog", 1, 9), Written("scores", 1, 3)]
    note_persisted_offsets({"changelog": Table()}, written)
    assert noted == [(TP("changelog", 1), 9)]


def test_the_changelogs_the_cli_creates_are_the_ones_faust_uses() -> None:
    from services.scorer import app as scorer
    from services.scorer.settings import ScorerSettings

    tables = (scorer.states, scorer.deadlines, scorer.spike_states, scorer.report_windows)
    assert tuple(table.changelog_topic_name for table in tables) == ScorerSettings().changelog_topics


def test_the_worker_creates_no_topic_of_its_own_as_it_starts() -> None:
    """A topic created by the starting worker may be missing from its group's first metadata, and the
    refresh that finds it makes the group rebalance: the changelogs are created beforehand (above), and
    Faust's leader-election topic is not used."""
    from services.scorer import app as scorer

    assert scorer.app.conf.topic_disable_leader


async def test_faust_never_commits_past_a_record_the_agent_did_not_acknowledge(tmp_path: Path) -> None:
    app = faust.App(f"commits-{tmp_path.name}", broker="kafka://unused:1")
    skipped: list[tuple[str, int, int, int]] = []
    held = HeldCommits()
    guard_commits(app, {"touchpoints"}, held, lambda *jump: skipped.append(jump), {})
    consumer = app.consumer
    for topic in ("touchpoints", "compacted"):
        tp = TP(topic, 0)
        consumer._committed_offset[tp] = 2585
        consumer._acked[tp].extend([2586, 2587, 2588, 2589])  # the record at 2585 never acknowledged
    # Faust's own rule commits past it (faust-streaming#606); the guard withholds it on a gapless topic
    assert consumer._new_offset(TP("compacted", 0)) == 2590
    assert consumer._new_offset(TP("touchpoints", 0)) is None
    assert withheld_commits(app, {"touchpoints"}, held, {}) == {"touchpoints:0": (2585, 2586)}
    consumer._acked[TP("touchpoints", 0)].append(2585)  # it came again and was processed
    assert consumer._new_offset(TP("touchpoints", 0)) == 2590

    await consumer._add_gap(TP("touchpoints", 1), 10, 15)  # offsets that jumped are reported, not skipped
    await consumer._add_gap(TP("compacted", 1), 10, 15)
    assert skipped == [("touchpoints", 1, 10, 15)]
    assert not consumer._gap[TP("touchpoints", 1)] and consumer._gap[TP("compacted", 1)]


async def test_before_the_groups_first_commit_the_guard_counts_from_where_reading_started(
    tmp_path: Path,
) -> None:
    app = faust.App(f"first-commit-{tmp_path.name}", broker="kafka://unused:1")
    started_at = {"touchpoints:0": 0}  # read from Kafka: the group never committed partition 0
    guard_commits(app, {"touchpoints"}, HeldCommits(), lambda *jump: None, started_at)
    consumer = app.consumer
    for partition in (0, 1):  # Faust knows no commit of either; offsets 0-4 never reached the agent
        consumer._acked[TP("touchpoints", partition)].extend([5, 6, 7])
    assert consumer._new_offset(TP("touchpoints", 1)) == 8  # no start known: Faust's own rule, unchecked
    assert consumer._new_offset(TP("touchpoints", 0)) is None
    assert withheld_commits(app, {"touchpoints"}, HeldCommits(), started_at) == {"touchpoints:0": (0, 5)}
    consumer._acked[TP("touchpoints", 0)].extend([0, 1, 2, 3, 4])  # fetched again and processed
    assert consumer._new_offset(TP("touchpoints", 0)) == 8


async def test_fetching_again_from_the_committed_offsets_rewinds_partitions_never_committed_too(
    tmp_path: Path,
) -> None:
    app = faust.App(f"rewind-{tmp_path.name}", broker="kafka://unused:1")
    table = app.Table("states", partitions=1)
    consumer = app.consumer
    changelog = TP(table.changelog_topic_name, 0)
    assigned = {TP("touchpoints", 0), TP("touchpoints", 1), TP("touchpoints", 2), changelog}
    committed = {TP("touchpoints", 0): 41, TP("touchpoints", 1): None, TP("touchpoints", 2): 0}
    sought: list[tuple[TP, int]] = []

    async def seek_to_committed() -> dict[TP, int | None]:  # aiokafka: only 41 is sought (offset > 0)
        sought.append((TP("touchpoints", 0), 41))
        return {**committed, changelog: None}

    async def _seek(tp: TP, offset: int) -> None:
        sought.append((tp, offset))

    consumer.assignment = lambda: assigned  # type: ignore[method-assign]
    consumer.seek_to_committed = seek_to_committed  # type: ignore[method-assign]
    consumer._seek = _seek  # type: ignore[method-assign]
    consumer._read_offset.update({tp: 60 for tp in assigned})  # what Faust had read
    await fetch_again_from_committed(app)
    # each partition of the agents' topics goes back to where the group reads it from; Faust's changelog not
    assert sorted(sought) == [(TP("touchpoints", p), o) for p, o in ((0, 41), (1, 0), (2, 0))]
    assert [consumer._read_offset[TP("touchpoints", p)] for p in range(3)] == [41, None, None]


async def plain_take_events(stream: Any, size: int, within: float) -> AsyncIterator[list[Any]]:
    async for batch in stream.take_events(size, within=within):
        yield batch


@pytest.mark.parametrize(
    ("batches", "stopped_batch_acknowledged"),
    [(plain_take_events, True), (batches_acknowledged_when_done, False)],
    ids=["faust-take-events", "acknowledged-when-done"],
)
async def test_a_batch_the_worker_stops_in_stays_unacknowledged_and_a_finished_one_is_acknowledged(
    tmp_path: Path, batches: Any, stopped_batch_acknowledged: bool
) -> None:
    """Faust's take_events acknowledges its batch in a ``finally:``, which also runs when the agent is
    stopped midway (SIGTERM while a batch is published): its last commit would go past records never
    published. The scorer's batches are acknowledged only once the agent is done with them."""
    app = faust.App(f"batches-{tmp_path.name}", broker="kafka://unused:1")
    app.flow_control.resume()  # as a started worker's is
    received: list[list[Any]] = []
    arrived, done = asyncio.Event(), asyncio.Event()

    @app.agent()
    async def publish_slowly(stream: Any) -> None:
        async for batch in batches(stream, 3, 30.0):
            received.append(batch)
            arrived.set()
            await done.wait()  # publishing the batch's records
            done.clear()

    async def a_batch_of_three(agent: Any) -> list[Any]:
        arrived.clear()
        for value in range(3):
            await agent.put(value)
        await asyncio.wait_for(arrived.wait(), 5)
        for event in received[-1]:
            event.message.incref()  # the one reference a Kafka topic's conductor holds for each stream
        return [event.message for event in received[-1]]

    async with publish_slowly.test_context() as agent:
        finished = await a_batch_of_three(agent)
        done.set()  # published: the agent asks for the next batch
        stopped = await a_batch_of_three(agent)
        assert [message.acked for message in finished] == [True] * 3
        assert not any(message.acked for message in stopped)
    gc.collect()  # the stopped agent's batch generators are closed (their ``finally:`` runs)
    for _ in range(5):
        await asyncio.sleep(0.01)
    assert [message.acked for message in stopped] == [stopped_batch_acknowledged] * 3
