"""The API's view of score records: what it keeps, how it ranks, and that building its indexes after the
replay ranks exactly as keeping them from the first record would."""

import random
from typing import Any

import orjson
import pytest

from services.api.score_view import ScoreView, preset_dictionary
from services.common.config_files import load_scoring_model
from services.common.settings import CommonSettings
from services.domain.readings import score_record
from services.domain.scoring import ConstituentState, apply_event


def published(constituent_id: str, overall: float, roles: tuple[str, ...] = ()) -> bytes:
    state: dict[str, Any] = {
        "constituent_id": constituent_id,
        "scores": {"overall": overall},
        "roles": list(roles),
        **{key: {} for key in ("contributions", "counts", "hourly", "last_touch")},
        **dict.fromkeys(("reference_time", "events", "updated_at"), 0),
    }
    return orjson.dumps(state)


def test_a_record_the_view_cannot_read_is_refused_and_changes_nothing() -> None:
    view = ScoreView()
    view.apply(b"c-1", published("c-1", 40))
    for unreadable in (b"{oops", orjson.dumps({"constituent_id": "c-1", "sums": {}}), orjson.dumps([1])):
        with pytest.raises(ValueError):
            view.apply(b"c-1", unreadable)
    assert view.get("c-1")["scores"]["overall"] == 40  # type: ignore[index]


def test_a_few_records_are_kept_smaller_with_the_preset_dictionary_and_read_back_unchanged() -> None:
    model = load_scoring_model(CommonSettings().scoring_config)
    state = ConstituentState("c-00042")
    for n, event_type in enumerate(("web.page_view", "donation.succeeded", "email.sent", "email.opened")):
        event = {"event_id": f"e{n}", "type": event_type, "source": event_type.split(".")[0]}
        apply_event(state, event, 1_795_000_000.0 + n * 60, model)
    record = orjson.dumps(score_record(state, model, 1_795_000_300.0))
    plain, preset = ScoreView(), ScoreView(preset_dictionary(model))
    for view in (plain, preset):
        view.apply(b"c-00042", record)
        assert view.get("c-00042") == orjson.loads(record)  # kept as it came until the replay caught up
        view.caught_up()  # too few records to train a dictionary on: the preset, or none
        assert view.get("c-00042") == orjson.loads(record)
    assert 0 < preset.kept_bytes("c-00042") < 0.8 * plain.kept_bytes("c-00042") < 0.8 * len(record)


def test_the_score_view_keeps_the_latest_value_and_honours_tombstones() -> None:
    view = ScoreView()
    view.apply(b"c-1", published("c-1", 40))
    view.apply(b"c-1", published("c-1", 45))
    assert view.get("c-1")["scores"]["overall"] == 45  # type: ignore[index]
    view.apply(b"c-1", None)
    assert view.get("c-1") is None
    assert view.ranked(ascending=True, role=None, max_score=None, limit=10) == []


def test_constituents_are_ranked_by_score_with_role_and_ceiling_filters() -> None:
    view = ScoreView()
    for n, (score, roles) in enumerate([(70, ()), (20, ("donor",)), (45, ("donor", "volunteer")), (35, ())]):
        view.apply(f"c-{n}".encode(), published(f"c-{n}", score, roles))
    view.apply(b"c-0", published("c-0", 10))  # re-scored: must move in the index, not appear twice

    def ids(**query: Any) -> list[str]:
        options = {"ascending": True, "role": None, "max_score": None, "limit": 10, **query}
        return [state["constituent_id"] for state in view.ranked(**options)]

    assert ids() == ["c-0", "c-1", "c-3", "c-2"]
    assert ids(ascending=False, limit=2) == ["c-2", "c-3"]
    assert ids(role="donor") == ["c-1", "c-2"]
    assert ids(max_score=35) == ["c-0", "c-1", "c-3"]
    assert ids(role="nobody") == []


def test_the_histogram_counts_each_score_once() -> None:
    view = ScoreView()
    for n, score in enumerate([0, 9.99, 10, 55, 100]):
        view.apply(f"c-{n}".encode(), published(f"c-{n}", score))
    edges = [float(e) for e in range(0, 101, 10)]
    assert view.histogram(edges) == [2, 1, 0, 0, 0, 1, 0, 0, 0, 1]


ROLES = ("donor", "volunteer", "advocate")


def replay(seed: int, count: int) -> list[tuple[bytes, bytes | None]]:
    """Records of a topic not yet compacted: people re-scored, their roles changed, some erased."""
    rng = random.Random(seed)
    records: list[tuple[bytes, bytes | None]] = []
    for _ in range(count):
        person = f"c-{rng.randrange(60)}"
        if rng.random() < 0.1:
            records.append((person.encode(), None))
        else:
            roles = tuple(role for role in ROLES if rng.random() < 0.4)
            score = float(rng.choice([0, 12.5, 40, 40, 55.25, 99, 100]))  # ties: ordered by id
            records.append((person.encode(), published(person, score, roles)))
    return records


def answers(view: ScoreView) -> list[Any]:
    """Everything the view answers from its indexes."""
    out: list[Any] = [view.histogram([0.0, 20.0, 50.0, 100.0])]
    for role in (None, *ROLES):
        for ascending in (True, False):
            for max_score in (None, 40.0):
                ranked = view.ranked(ascending=ascending, role=role, max_score=max_score, limit=1000)
                out.append([(state["constituent_id"], state["scores"]["overall"]) for state in ranked])
    return out


@pytest.mark.parametrize("seed", range(5))
def test_indexes_built_after_the_replay_rank_as_indexes_kept_from_the_first_record(seed: int) -> None:
    records = replay(seed, 400)
    kept = ScoreView()
    kept.build_index()  # indexes from the start: every record moves its person in them
    built_after, built_midway, queried_midway = ScoreView(), ScoreView(), ScoreView()
    for n, (key, value) in enumerate(records):
        for view in (kept, built_after, built_midway, queried_midway):
            view.apply(key, value)
        if n == len(records) // 2:
            built_midway.build_index()
            queried_midway.ranked(ascending=True, role="donor", max_score=None, limit=1)  # builds them too
    built_after.build_index()
    expected = answers(kept)
    assert any(expected[1:])  # not vacuous: people are ranked
    for view in (built_after, built_midway, queried_midway):
        assert answers(view) == expected


def test_a_view_never_built_builds_its_indexes_for_its_first_query() -> None:
    view = ScoreView()
    for n, score in enumerate([70, 20, 45]):
        view.apply(f"c-{n}".encode(), published(f"c-{n}", score, ("donor",) if n else ()))
    assert [
        state["constituent_id"] for state in view.ranked(ascending=True, role=None, max_score=None, limit=5)
    ] == [
        "c-1",
        "c-2",
        "c-0",
    ]
    view.apply(b"c-1", published("c-1", 90, ()))  # after the build: moved, and out of the donors' index
    assert [
        state["constituent_id"]
        for state in view.ranked(ascending=True, role="donor", max_score=None, limit=5)
    ] == ["c-2"]
    assert view.histogram([0.0, 50.0, 100.0]) == [1, 2]


def folded_records(count: int, seed: int) -> list[tuple[bytes, bytes]]:
    """Score records of people who did a few random things: what the scorer publishes."""
    model = load_scoring_model(CommonSettings().scoring_config)
    rng, types = random.Random(seed), sorted(model.impacts)
    records = []
    for n in range(count):
        state, at = ConstituentState(f"c-{n:05d}"), 1_795_000_000.0 + rng.random() * 86_400
        for _ in range(rng.randint(1, 8)):
            event_type, at = rng.choice(types), at + rng.random() * 3_600
            event = {"event_id": f"{rng.getrandbits(64):016x}", "type": event_type, "source": "web"}
            apply_event(state, event, at, model)
        records.append((f"c-{n:05d}".encode(), orjson.dumps(score_record(state, model, at))))
    return records


def test_a_dictionary_is_trained_on_the_replays_first_records_and_every_record_reads_back_unchanged() -> None:
    model = load_scoring_model(CommonSettings().scoring_config)
    records = folded_records(1_200, seed=7)
    view = ScoreView(preset_dictionary(model), train_after=1_000)
    for n, (key, value) in enumerate(records):
        view.apply(key, value)
        if n < 999:  # kept as they came until there are enough to train on
            assert view.dictionary == "not settled" and view.kept_bytes(key.decode()) == len(value)
    assert view.dictionary == "trained"
    # the first 1,000 compressed with the dictionary trained on them, and every one after
    assert all(0 < view.kept_bytes(key.decode()) < len(value) / 3 for key, value in records)
    assert all(view.get(key.decode()) == orjson.loads(value) for key, value in records)
    view.caught_up()  # settled already: nothing is compressed twice
    assert view.dictionary == "trained"
    assert all(view.get(key.decode()) == orjson.loads(value) for key, value in records)


def test_records_too_few_to_train_on_are_compressed_with_the_preset_when_the_replay_catches_up() -> None:
    model = load_scoring_model(CommonSettings().scoring_config)
    records = folded_records(50, seed=8)
    view, bare = ScoreView(preset_dictionary(model)), ScoreView()
    for key, value in records:
        for each in (view, bare):
            each.apply(key, value)
        assert view.kept_bytes(key.decode()) == len(value)  # before catching up: as it came
    view.caught_up()
    bare.caught_up()
    assert (view.dictionary, bare.dictionary) == ("preset", "none")
    for each in (view, bare):
        assert all(each.get(key.decode()) == orjson.loads(value) for key, value in records)
    assert all(view.kept_bytes(key.decode()) < len(value) / 2 for key, value in records)


def test_what_the_view_keeps_per_person_is_nothing_the_garbage_collector_walks() -> None:
    """At a million people a full collection walking each person's objects took ~80 ms: a pause every
    request then waiting saw. Each person is one bytes object, each index entry another: untracked."""
    import gc

    view = ScoreView()
    for n, (key, value) in enumerate(folded_records(50, seed=9)):
        view.apply(key, value)
        if n == 25:
            view.build_index()  # entries added one by one after the build, too
    view.caught_up()
    kept = [view._people[key] for key in view._people]
    entries = [entry for index in view.build_index().values() for entry in index]
    assert len(kept) == 50 and len(entries) >= 50
    assert not any(gc.is_tracked(thing) for thing in kept + entries)
