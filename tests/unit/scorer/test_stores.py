"""The scorer's direct use of Faust's table stores: it fails loudly when faust-streaming is not the pinned
release or a fix of services/faust_fixes is not in force, and a key written through it lands in (and is read
from) its own partition's store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faust
import pytest
from faust.types import TP

from services import faust_fixes
from services.common.kafka import Written
from services.scorer.stores import (
    BatchStores,
    FaustInternalsChanged,
    check_faust_internals,
    note_persisted_offsets,
)


class Message:
    """What BatchStores needs of a Faust message: its partition."""

    def __init__(self, partition: int) -> None:
        self.partition = partition


def test_the_scorer_refuses_to_start_unless_every_fix_to_faust_streaming_is_in_force() -> None:
    with faust_fixes.as_released(), pytest.raises(FaustInternalsChanged, match=r"Consumer\._drain_messages"):
        check_faust_internals()
    with faust_fixes.as_released(), faust_fixes.installed():
        check_faust_internals()  # raises FaustInternalsChanged, naming each difference


@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
def test_a_write_lands_in_its_partitions_store_and_reads_back_from_it(tmp_path: Path, store: str) -> None:
    app = faust.App(f"stores-{tmp_path.name}", store=store, datadir=str(tmp_path), broker="kafka://unused:1")
    table = app.Table("states", partitions=4, key_type=bytes, value_type=bytes)
    stores = BatchStores([Message(0), Message(2)])

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
