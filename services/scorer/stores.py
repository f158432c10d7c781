"""Every use of faust-streaming's internals in one place: the scorer's direct access to its table stores
(and how Faust's own clients get the Kafka credentials). The one other, Faust's per-record waits cut short,
is services/scorer/faust_fast_paths.py; ``check_faust_internals`` checks both.

Faust's own table write sends each changelog record through its per-message producer path, which cost more
than the scoring (docs/performance.md), so the scorer reads and writes the stores under its tables
(``table.data``) itself and sends the changelog records with the batch's other records. Recovery stays
Faust's: it rebuilds the store from the same changelog topic. That leans on three things Faust does not
promise, checked by ``check_faust_internals`` (at start-up and in tests/unit/scorer/test_stores.py), and
pinned by the version range in pyproject.toml:

- a store picks a key's partition (its RocksDB database) from the stream's "current event", the private
  context variable ``faust.streams._current_event``, which ``take_events()`` leaves unset: without it a
  read probes every partition's database and a RocksDB write fails an assertion;
- ``table.data`` is the store, a mutable mapping of bytes to bytes;
- ``store.set_persisted_offset`` records how far a RocksDB store has applied its changelog, which Faust's
  own changelog callback does after each write: without it a restart replays the whole changelog.

A batch from ``take_events`` is acknowledged only once the agent is done with it
(``batches_acknowledged_when_done``: each message holds one more reference meanwhile).

And the remedies for a Faust fault, records fetched that never reached the agent (services/scorer/stalls.py):
``Consumer.perform_seek`` (what Faust's recovery calls after a rebalance) fetches again from the committed
offsets, ``Consumer.seek`` one partition from an offset; both reset what Faust believes it has read. So
that such a record is never committed past, ``guard_commits`` wraps the consumer's ``_new_offset`` (which
offset a commit may reach, from ``_acked`` and ``_committed_offset``) and ``_add_gap`` (offsets Faust
would skip) for the topics that have a record at every offset.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import AsyncIterator, Callable, Iterable
from contextvars import ContextVar
from typing import Any

import faust
import faust.streams
import orjson
from faust.stores import base, memory
from faust.transport.consumer import Consumer
from faust.types import TP
from faust.types.tuples import Message

from services.common.kafka import Record, Written, tls_context
from services.common.settings import CommonSettings
from services.domain.scoring import ConstituentState
from services.scorer.faust_fast_paths import check_fast_paths
from services.scorer.stalls import HeldCommits

SUPPORTED_FAUST = ((0, 15, 3), (0, 16, 0))  # [from, to): as pinned in pyproject.toml


class FaustInternalsChanged(RuntimeError):
    """faust-streaming no longer works the way the scorer's direct store access relies on."""


def check_faust_internals() -> None:
    """Raise FaustInternalsChanged, naming each difference, unless every internal used here is as expected."""
    problems = []
    version = tuple(int(part) for part in faust.__version__.split(".")[:3])
    low, high = SUPPORTED_FAUST
    if not low <= version < high:
        problems.append(f"faust-streaming {faust.__version__} is outside the pinned range {low}-{high}")
    variable = getattr(faust.streams, "_current_event", None)
    if not isinstance(variable, ContextVar):
        problems.append("faust.streams._current_event is no longer a ContextVar")
    elif "_current_event" not in inspect.getsource(faust.streams.current_event):
        problems.append("faust.streams.current_event() no longer reads _current_event")
    if not callable(getattr(base.Store, "set_persisted_offset", None)):
        problems.append("faust's Store has no set_persisted_offset")
    for method in ("get", "pop", "__setitem__"):
        if not callable(getattr(memory.Store, method, None)):
            problems.append(f"faust's memory Store has no {method}")
    try:
        from faust.stores import rocksdb
    except ImportError:  # RocksDB is optional; without it only the memory store is checked
        rocksdb = None
    if rocksdb is not None:
        for method in ("_get", "_set"):
            if "current_event()" not in inspect.getsource(getattr(rocksdb.Store, method)):
                problems.append(f"faust's RocksDB Store.{method} no longer picks the partition by event")
    for method in ("perform_seek", "position", "seek", "_add_gap"):
        if not inspect.iscoroutinefunction(getattr(Consumer, method, None)):
            problems.append(f"faust's Consumer.{method} is no longer a coroutine function")
    for method in ("incref", "ack"):
        if not callable(getattr(Message, method, None)):
            problems.append(f"faust's Message has no {method}")
    new_offset = inspect.getsource(Consumer._new_offset)
    if "self._acked[tp]" not in new_offset or "self._committed_offset[tp]" not in new_offset:
        problems.append("faust's Consumer._new_offset no longer reads _acked and _committed_offset")
    problems += check_fast_paths()
    if problems:
        raise FaustInternalsChanged(
            "the scorer's direct table access (services/scorer/stores.py) or its fast paths "
            "(services/scorer/faust_fast_paths.py) need review: " + "; ".join(problems)
        )


class BatchStores:
    """A batch's reads and writes of the table stores, each in the partition its key lives in.

    ``batch`` holds Faust events (one per partition is enough): each read and write sets the stream's
    current event to one of the key's partition, so that the store looks in that partition's database.
    """

    def __init__(self, batch: Iterable[Any]) -> None:
        self._event_of = {event.message.partition: weakref.ref(event) for event in batch}

    def read(self, table: Any, key: bytes, partition: int) -> bytes | None:
        token = faust.streams._current_event.set(self._event_of[partition])
        try:
            return table.data.get(key)  # type: ignore[no-any-return]
        finally:
            faust.streams._current_event.reset(token)

    def write(self, table: Any, key: bytes, value: bytes | None, partition: int) -> Record:
        """Write (or delete, for None) a key in its store; the changelog record to publish with the batch."""
        token = faust.streams._current_event.set(self._event_of[partition])
        try:
            if value is None:
                table.data.pop(key, None)
            else:
                table.data[key] = value
        finally:
            faust.streams._current_event.reset(token)
        return Record(table.changelog_topic_name, key, value, partition)

    def state_loader(self, table: Any) -> Callable[[str, int], ConstituentState | None]:
        """How the batch processor reads a constituent's stored state from ``table``."""

        def load(constituent_id: str, partition: int) -> ConstituentState | None:
            stored = self.read(table, constituent_id.encode(), partition)
            return None if stored is None else ConstituentState.from_dict(orjson.loads(stored))

        return load


def note_persisted_offsets(tables_by_changelog: dict[str, Any], written: Iterable[Written]) -> None:
    """What Faust's own changelog callback does: a RocksDB store remembers how far its changelog is
    already applied, so that a restart replays only what came after."""
    newest: dict[tuple[str, int], int] = {}
    for where in written:
        key = (where.topic, where.partition)
        newest[key] = max(newest.get(key, -1), where.offset)
    for (topic, partition), offset in newest.items():
        table = tables_by_changelog.get(topic)
        if table is not None:
            table.data.set_persisted_offset(TP(topic, partition), offset)


async def fetch_again_from_committed(app: faust.App) -> None:
    """Move every assigned partition's consumer back to its committed offset (and Faust's idea of what it
    has read with it): records fetched but never processed come again; processed ones are repeats.

    aiokafka's ``seek_to_committed`` (under Faust's ``perform_seek``) leaves a partition with no commit, or
    one at offset 0, where it is (``if offset and offset > 0``): those, but for the tables' changelogs
    (Faust's recovery reads them), go back to offset 0 — or, if retention deleted it, to the first retained
    one (``consumer_auto_offset_reset="earliest"``), where the group's reading of them starts."""
    consumer = app.consumer
    await consumer.perform_seek()
    changelogs = app.tables.changelog_topics
    uncommitted = [
        tp
        for tp in consumer.assignment()
        if tp.topic not in changelogs and not consumer._committed_offset.get(tp)
    ]
    for tp in uncommitted:
        await consumer.seek(tp, 0)


async def fetch_again_from(app: faust.App, topic: str, partition: int, offset: int) -> None:
    """Move one partition's consumer back to ``offset`` (and Faust's idea of what it has read with it)."""
    await app.consumer.seek(TP(topic, partition), offset)


async def batches_acknowledged_when_done(stream: Any, size: int, within: float) -> AsyncIterator[list[Any]]:
    """``stream.take_events(size, within)``, each batch acknowledged only once the agent asks for the next.

    ``take_events`` acknowledges a batch in a ``finally:``, which also runs when the agent is stopped midway
    (a SIGTERM while the batch is being published): the generator is closed as the agent's task ends, and
    the worker's last commit then goes past records whose states never reached Kafka — lost. So each
    message holds one more reference while its batch is with the agent, let go after the agent is done
    with it: Faust's own acknowledgement then takes the last one; a batch left midway keeps its records
    unacknowledged, and the next owner reads them again (tests/unit/scorer/test_stores.py)."""
    consumer = stream.app.consumer
    async for batch in stream.take_events(size, within=within):
        for event in batch:
            event.message.incref()
        yield batch
        for event in batch:
            event.message.ack(consumer)


def committed_offset(app: faust.App, topic: str, partition: int) -> int | None:
    """Where this worker's reading of a partition started or its last commit reached (None: no commit)."""
    return app.consumer._committed_offset.get(TP(topic, partition))  # type: ignore[no-any-return]


def _withheld(
    consumer: Any, tp: TP, held: HeldCommits, uncommitted: dict[str, int]
) -> tuple[int, int] | None:
    """(committed offset, lowest acknowledged offset) when ``held`` withholds ``tp``'s next commit, else None.
    Where Faust knows no commit, the start of reading read from Kafka (``uncommitted``) stands in for it."""
    acked = consumer._acked[tp]
    if not acked:
        return None
    name = f"{tp.topic}:{tp.partition}"
    committed = consumer._committed_offset.get(tp)
    if committed is None:
        committed = uncommitted.get(name)
    lowest = min(acked)
    if committed is None or held.allows(name, lowest, committed):
        return None
    return committed, lowest


def guard_commits(
    app: faust.App,
    gapless: set[str],
    held: HeldCommits,
    on_skip: Callable[[str, int, int, int], None],
    uncommitted: dict[str, int],
) -> None:
    """Never commit past a record of a ``gapless`` topic the agent has not acknowledged (HeldCommits in
    services/scorer/stalls.py): a commit whose acknowledged offsets do not start at the committed one (or,
    before the group's first commit, at where reading started: ``uncommitted``) is withheld, and a jump Faust
    sees in fetched offsets is reported to ``on_skip(topic, partition, from, to)`` instead of being taken
    for a gap to commit past."""
    consumer = app.consumer
    new_offset, add_gap = consumer._new_offset, consumer._add_gap

    def guarded_new_offset(tp: TP) -> int | None:
        if tp.topic in gapless and _withheld(consumer, tp, held, uncommitted) is not None:
            return None
        return new_offset(tp)  # type: ignore[no-any-return]

    async def gaps_only_where_there_are(tp: TP, offset_from: int, offset_to: int) -> None:
        if tp.topic in gapless:
            on_skip(tp.topic, tp.partition, offset_from, offset_to)
            return
        await add_gap(tp, offset_from, offset_to)

    consumer._new_offset = guarded_new_offset
    consumer._add_gap = gaps_only_where_there_are


def withheld_commits(
    app: faust.App, gapless: set[str], held: HeldCommits, uncommitted: dict[str, int]
) -> dict[str, tuple[int, int]]:
    """ "topic:partition" -> (committed offset, lowest acknowledged offset), for each partition of a
    ``gapless`` topic whose next commit ``held`` would withhold now."""
    consumer = app.consumer
    withheld = {}
    for tp in list(consumer._acked):
        if tp.topic in gapless and (heads := _withheld(consumer, tp, held, uncommitted)) is not None:
            withheld[f"{tp.topic}:{tp.partition}"] = heads
    return withheld


def faust_credentials(settings: CommonSettings) -> faust.auth.Credentials | None:
    """Faust's own Kafka clients (consumer, changelog recovery, its producer) configured as every other
    client is (services/common/kafka.py client_options): TLS, and SASL credentials with SASL_SSL."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return faust.SSLCredentials(tls_context(settings))
    return faust.SASLCredentials(
        username=settings.kafka_username,
        password=settings.kafka_password.get_secret_value(),
        ssl_context=tls_context(settings),
        mechanism=settings.kafka_sasl_mechanism,
    )
