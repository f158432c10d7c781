"""The scorer's direct access to its table stores, and how Faust's own clients get the Kafka credentials.
(The other place that touches faust-streaming's internals is services/faust_fixes: fixes to its defects.)

Faust's own table write sends each changelog record through its per-message producer path, which cost more
than the scoring (docs/performance.md), so the scorer reads and writes the stores under its tables
(``table.data``) itself and sends the changelog records with the batch's other records. Recovery stays
Faust's: it rebuilds the store from the same changelog topic. That leans on three things Faust does not
promise, pinned by the exact release in pyproject.toml and held by tests/unit/scorer/test_stores.py (a write
and a read through both stores, the persisted offset noted):

- a store picks a key's partition (its RocksDB database) from the stream's "current event", the private
  context variable ``faust.streams._current_event``, which ``take_events()`` leaves unset: without it a
  read probes every partition's database and a RocksDB write fails an assertion;
- ``table.data`` is the store, a mutable mapping of bytes to bytes;
- ``store.set_persisted_offset`` records how far a RocksDB store has applied its changelog, which Faust's
  own changelog callback does after each write: without it a restart replays the whole changelog.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import Any

import faust
import faust.streams
from faust.stores import base, memory
from faust.types import TP

from services import faust_fixes
from services.common.kafka import Record, Written, tls_context
from services.common.settings import CommonSettings
from services.domain.scoring import ConstituentState
from services.scorer.compiled import state_from_stored


class FaustInternalsChanged(RuntimeError):
    """faust-streaming no longer works the way the scorer's direct store access relies on."""


def check_faust_internals() -> None:
    """Raise FaustInternalsChanged, naming each difference, unless the installed faust-streaming is the pinned
    release with what the direct store access uses, and every fix of services/faust_fixes is in force."""
    problems = faust_fixes.not_in_force()
    if not isinstance(getattr(faust.streams, "_current_event", None), ContextVar):
        problems.append("faust.streams._current_event is no longer a ContextVar")
    if not callable(getattr(base.Store, "set_persisted_offset", None)):
        problems.append("faust's Store has no set_persisted_offset")
    for method in ("get", "pop", "__setitem__"):
        if not callable(getattr(memory.Store, method, None)):
            problems.append(f"faust's memory Store has no {method}")
    if problems:
        raise FaustInternalsChanged(
            "the scorer's direct table access (services/scorer/stores.py) or the fixes to faust-streaming "
            "(services/faust_fixes) need review: " + "; ".join(problems)
        )


class _CurrentEvent:
    """What a store asks of the stream's current event: its message (for the partition)."""

    __slots__ = ("__weakref__", "message")

    def __init__(self, message: Any) -> None:
        self.message = message


class BatchStores:
    """A batch's reads and writes of the table stores, each in the partition its key lives in.

    ``messages`` are the batch's Faust messages (one per partition is enough): each read and write sets the
    stream's current event to one of the key's partition, so that the store looks in that partition's
    database.
    """

    def __init__(self, messages: Iterable[Any]) -> None:
        self._current = {message.partition: _CurrentEvent(message) for message in messages}
        self._event_of = {partition: weakref.ref(event) for partition, event in self._current.items()}

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
            return None if stored is None else state_from_stored(stored)

        return load

    def stored_loader(self, table: Any) -> Callable[[str, int], bytes | None]:
        """How the compiled core reads a constituent's stored state (its bytes, or JSON) from ``table``."""

        def load(constituent_id: str, partition: int) -> bytes | None:
            return self.read(table, constituent_id.encode(), partition)

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
