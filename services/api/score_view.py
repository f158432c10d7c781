"""The API's view of every constituent's latest score record, folded from the `constituent-scores` topic.

Pure: no I/O. Two things make a replica over millions of people start and answer quickly
(docs/performance.md, "The API's view: zstd and one sort"):

- each record is kept compressed with zstd and a dictionary trained on the replay's own first records
  (``TRAIN_AFTER``; until then they are kept as they came) — or, for a topic with too few to train on, a
  preset of what score records share: a few microseconds each way, about a sixth of the record;
- the ranking indexes are built with one sort once the view has caught up with its topic, not by inserting
  each record of the replay into a sorted list; from then on each record moves its person in them.
"""

from __future__ import annotations

import struct
from collections import defaultdict
from collections.abc import Iterator
from itertools import islice, pairwise
from typing import Any

import orjson
import zstandard
from sortedcontainers import SortedList

from services.domain.readings import score_record
from services.domain.scoring import ConstituentState, apply_event
from services.domain.scoring_model import ScoringModel

EVERYONE = ""  # the index of all constituents, beside one index per role
REQUIRED_FIELDS = frozenset(
    {
        "constituent_id",
        "scores",
        "roles",
        "reference_time",
        "contributions",
        "counts",
        "hourly",
        "last_touch",
        "events",
        "updated_at",
    }
)
ZSTD_LEVEL = 3  # as fast as level 1 on score records, and a little smaller
TRAIN_AFTER = 2_000  # records kept as they came, then a dictionary trained on them (~0.1 s)
MIN_TRAINING_RECORDS = 100  # fewer when the replay has caught up: the preset dictionary instead
DICTIONARY_BYTES = 16_384

# Each person is one ``bytes`` object: a header (overall score, which set of roles) and the record, as it
# came or compressed; the indexes hold one ``bytes`` key per person, ordered as (score, id). Neither is an
# object the garbage collector tracks, so a full collection no longer walks a million people (it took
# ~80 ms at 1M with tuples), and a person costs two objects instead of five (docs/performance.md).
HEADER = struct.Struct("<dH")  # overall score, index of the person's set of roles
RANK = struct.Struct(">Q")
SIGN = 1 << 63
MAX_ROLE_SETS = 2**16


def rank_key(score: float, constituent_id: str = "") -> bytes:
    """What orders an index: the score as 8 bytes that sort as the numbers do, then the id (UTF-8 sorts as
    the code points do, so ties are ordered by id as before)."""
    (bits,) = RANK.unpack(struct.pack(">d", score))
    bits = ~bits & (SIGN * 2 - 1) if bits & SIGN else bits | SIGN
    return RANK.pack(bits) + constituent_id.encode()


def preset_dictionary(model: ScoringModel) -> bytes:
    """What score records have in common (field names, every event type and its source, dimensions), as
    a record of someone who did one of everything: the compressor's preset dictionary for them."""
    state = ConstituentState("constituent")
    for n, event_type in enumerate(sorted(model.impacts)):
        event = {"event_id": f"event-{n}", "type": event_type, "source": event_type.split(".")[0]}
        apply_event(state, event, float(n), model)
    return orjson.dumps(score_record(state, model, state.reference_time))


class ScoreView:
    """The latest published state of every constituent (the compacted topic, replayed), indexed by score.

    The indexes order constituents by their overall score as of their latest event, per role too, so the
    at-risk list and the distribution are read from them, never by scanning everyone. They are built on
    first need — by ``build_index`` once the replay has caught up, or by the first query before that —
    and kept up to date record by record afterwards. Each state is kept as its record, compressed, not as
    parsed objects: about a twentieth of the memory, which is what lets one replica hold millions of
    people.
    """

    def __init__(self, preset: bytes = b"", train_after: int = TRAIN_AFTER) -> None:
        self._preset = preset
        self._train_after = train_after
        # None until the dictionary is settled (``settle``): until then records are kept as they came
        self._packer: zstandard.ZstdCompressor | None = None
        self.dictionary = (
            "not settled"  # then "trained", "preset" or "none": what records are compressed with
        )
        self._unpacker = zstandard.ZstdDecompressor()
        self._people: dict[str, bytes] = {}  # HEADER + the record (as it came, or compressed)
        self._by_score: dict[str, SortedList] | None = None  # None until built (build_index)
        self._role_sets: list[tuple[str, ...]] = []  # each distinct set of roles once, by its number
        self._role_set_numbers: dict[tuple[str, ...], int] = {}

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """Fold one record of the compacted topic; raise ValueError for one this version cannot read."""
        if key is None:
            raise ValueError("a score record without a key")
        state = None if value is None else orjson.loads(value)
        if state is not None and not (
            isinstance(state, dict)
            and state.keys() >= REQUIRED_FIELDS
            and isinstance(state["scores"], dict)
            and type(state["scores"].get("overall")) in (int, float)
            and isinstance(state["roles"], list)
        ):
            raise ValueError(f"not a score record of this version: {sorted(state)[:8]}…")
        constituent_id = key.decode()
        previous = self._people.pop(constituent_id, None)
        by_score = self._by_score
        if previous is not None and by_score is not None:
            score, roles = self._header(previous)
            entry = rank_key(score, constituent_id)
            for index in (EVERYONE, *roles):
                by_score[index].discard(entry)
        if state is None or value is None:
            return
        score, roles = float(state["scores"]["overall"]), tuple(state["roles"])
        header = HEADER.pack(score, self._role_set_number(roles))
        self._people[constituent_id] = header + (value if self._packer is None else self._pack(value))
        if self._packer is None and len(self._people) >= self._train_after:
            self.settle()
        if by_score is not None:
            entry = rank_key(score, constituent_id)
            for index in (EVERYONE, *roles):
                if index not in by_score:
                    by_score[index] = SortedList()
                by_score[index].add(entry)

    def _role_set_number(self, roles: tuple[str, ...]) -> int:
        number = self._role_set_numbers.get(roles)
        if number is None:
            if len(self._role_sets) >= MAX_ROLE_SETS:
                raise ValueError(f"more than {MAX_ROLE_SETS} distinct sets of roles")
            number = self._role_set_numbers[roles] = len(self._role_sets)
            self._role_sets.append(roles)
        return number

    def _header(self, kept: bytes) -> tuple[float, tuple[str, ...]]:
        score, roles = HEADER.unpack_from(kept)
        return score, self._role_sets[roles]

    def _pack(self, value: bytes) -> bytes:
        return self._packer.compress(value)  # type: ignore[union-attr]

    def settle(self) -> None:
        """Choose the dictionary, if not chosen yet, and compress with it every record kept as it came: one
        trained on those records when there are enough, else the preset (or none)."""
        if self._packer is not None:
            return
        dictionary = None
        if len(self._people) >= MIN_TRAINING_RECORDS:
            kept = islice(self._people.values(), TRAIN_AFTER)
            samples: list[bytes | bytearray | memoryview] = [raw[HEADER.size :] for raw in kept]
            try:
                dictionary = zstandard.train_dictionary(DICTIONARY_BYTES, samples, level=ZSTD_LEVEL)
            except zstandard.ZstdError:  # records too alike or too small to train on: the preset below
                dictionary = None
        self.dictionary = "trained" if dictionary is not None else "preset" if self._preset else "none"
        if dictionary is None and self._preset:
            dictionary = zstandard.ZstdCompressionDict(self._preset, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
        self._packer = zstandard.ZstdCompressor(level=ZSTD_LEVEL, dict_data=dictionary, write_dict_id=False)
        self._unpacker = zstandard.ZstdDecompressor(dict_data=dictionary)
        for constituent_id, raw in self._people.items():
            self._people[constituent_id] = raw[: HEADER.size] + self._pack(raw[HEADER.size :])

    def caught_up(self) -> None:
        """The replay has caught up: the dictionary settled, the ranking indexes built with one sort."""
        self.settle()
        self.build_index()

    def build_index(self) -> dict[str, SortedList]:
        """The ranking indexes, built with one sort per index from every person's score if not built yet."""
        if self._by_score is None:
            entries: defaultdict[str, list[bytes]] = defaultdict(list)
            everyone = entries[EVERYONE]
            for constituent_id, kept in self._people.items():
                score, roles = self._header(kept)
                everyone.append(entry := rank_key(score, constituent_id))  # shared by every index
                for role in roles:
                    entries[role].append(entry)
            self._by_score = {index: SortedList(listed) for index, listed in entries.items()}
        return self._by_score

    def get(self, constituent_id: str) -> dict[str, Any] | None:
        kept = self._people.get(constituent_id)
        return None if kept is None else self._read(kept)

    def ranked(
        self, *, ascending: bool, role: str | None, max_score: float | None, limit: int
    ) -> list[dict[str, Any]]:
        """Constituents by score (lowest first when ``ascending``), optionally of one role and capped."""
        index = self.build_index().get(role or EVERYONE, SortedList())
        upper = None if max_score is None else rank_key(max_score) + b"\xff"  # above every id at that score
        entries: Iterator[bytes] = index.irange(maximum=upper, reverse=not ascending)
        return [self._read(self._people[entry[RANK.size :].decode()]) for entry in islice(entries, limit)]

    def _read(self, kept: bytes) -> dict[str, Any]:
        """A kept record, as the state it was published as."""
        record = memoryview(kept)[HEADER.size :]
        if self._packer is None:  # kept as it came, the dictionary not settled yet
            return orjson.loads(record)  # type: ignore[no-any-return]
        return orjson.loads(self._unpacker.decompress(record))  # type: ignore[no-any-return]

    def histogram(self, edges: list[float]) -> list[int]:
        """How many constituents score within each [edges[i], edges[i+1]) (the last bin includes its end)."""
        index = self.build_index().get(EVERYONE, SortedList())
        positions = [index.bisect_left(rank_key(edge)) for edge in edges[:-1]] + [len(index)]
        return [upper - lower for lower, upper in pairwise(positions)]

    def kept_bytes(self, constituent_id: str) -> int:
        """The size of one person's record as kept (compressed); 0 when there is none."""
        kept = self._people.get(constituent_id)
        return 0 if kept is None else len(kept) - HEADER.size

    def __len__(self) -> int:
        return len(self._people)
