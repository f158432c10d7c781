"""Sources that went quiet or are being refused: volume learned from the stream, silence by the wall
clock, refusals by the data alone (a replay gives the same alert)."""

from __future__ import annotations

import random

from services.domain.alerts.rules import RejectingRule, SilenceRule
from services.domain.alerts.sources import SourceState, count_sources, source_keys

HOUR, WEEK = 3600.0, 7 * 86400.0
T0 = 1_795_000_000.0 // HOUR * HOUR  # a Wednesday, on the hour
SILENCE = SilenceRule(source="email/ses", owner="it-ops", silent_after_minutes=30, min_expected=20)
REJECTING = RejectingRule(
    source="donation/stripe",
    endpoint="stripe",
    owner="it-ops",
    window_minutes=10,
    min_refused=10,
    min_share=0.2,
)


def test_events_count_under_their_source_and_their_processor_or_provider_when_watched() -> None:
    stripe = {"source": "donation", "attributes": {"processor": "stripe"}}
    ses = {"source": "email", "attributes": {"provider": "ses"}}
    assert source_keys(stripe) == ("donation", "donation/stripe") and source_keys({"source": "web"}) == (
        "web",
    )
    counts = count_sources(
        [(stripe, T0 + 1), (stripe, T0 + 2), (ses, T0 + 15)], frozenset({"donation/stripe"})
    )
    assert counts == {"donation/stripe": {int(T0 // 10 * 10): 2}}


def sending(state: SourceState, start: float, hours: float, per_hour: int, arrived: float) -> None:
    """``per_hour`` events an hour for ``hours`` from ``start``, one bucket per event's minute."""
    for hour in range(int(hours)):
        buckets: dict[int, int] = {}
        for n in range(per_hour):
            bucket = int((start + hour * HOUR + n * HOUR / per_hour) // 10 * 10)
            buckets[bucket] = buckets.get(bucket, 0) + 1
        state.add_accepted(buckets, arrived)


def test_a_new_source_is_expected_to_keep_the_rate_it_kept_since_first_seen() -> None:
    state = SourceState("email/ses")
    sending(state, T0, hours=3, per_hour=120, arrived=T0 + 3 * HOUR)
    assert 115 <= state.expected_per_hour(T0 + 4 * HOUR) <= 125


def test_with_a_week_of_history_the_same_hour_of_the_week_is_expected() -> None:
    state = SourceState("email/ses")
    sending(state, T0, hours=1, per_hour=600, arrived=T0)  # busy on Wednesday at this hour
    sending(state, T0 + 12 * HOUR, hours=1, per_hour=6, arrived=T0)  # quiet at night
    assert state.expected_per_hour(T0 + WEEK + 600) == 600
    assert state.expected_per_hour(T0 + WEEK + 12 * HOUR + 600) == 6
    assert state.expected_per_hour(T0 + WEEK + 5 * HOUR) == 0  # nothing ever came then


def test_silence_opens_once_when_expected_traffic_stops_and_resolves_when_it_resumes() -> None:
    state = SourceState("email/ses")
    sending(state, T0, hours=2, per_hour=120, arrived=T0 + 2 * HOUR)
    last = T0 + 2 * HOUR
    assert state.check_silence(SILENCE, last + 29 * 60, judging_since=T0) is None
    opened = state.check_silence(SILENCE, last + 31 * 60, judging_since=T0)
    assert opened is not None and (opened["kind"], opened["status"], opened["severity"]) == (
        "source.silent",
        "open",
        "critical",
    )
    assert "about 60 were expected" in opened["detail"] and opened["rule"] == "silence:email/ses"
    assert state.check_silence(SILENCE, last + 45 * 60, judging_since=T0) is None  # once
    state.add_accepted({int(last + 50 * 60): 1}, arrived=last + 50 * 60)
    resolved = state.check_silence(SILENCE, last + 50 * 60 + 5, judging_since=T0)
    assert resolved is not None and (resolved["alert_id"], resolved["status"]) == (
        opened["alert_id"],
        "resolved",
    )


def test_a_source_too_quiet_to_judge_or_a_worker_just_started_raises_nothing() -> None:
    trickle = SourceState("email/ses")
    sending(trickle, T0, hours=2, per_hour=10, arrived=T0 + 2 * HOUR)  # 5 expected in 30 min, under 20
    assert trickle.check_silence(SILENCE, T0 + 5 * HOUR, judging_since=T0) is None
    busy = SourceState("email/ses")
    sending(busy, T0, hours=2, per_hour=120, arrived=T0 + 2 * HOUR)
    restarted = T0 + 5 * HOUR  # this worker has listened for 10 minutes only
    assert busy.check_silence(SILENCE, restarted + 600, judging_since=restarted) is None


def refusals(state: SourceState, letters: list[tuple[int, str]]) -> list[str]:
    opened = []
    for bucket, code in letters:
        state.add_refused(bucket, 1, code)
        alert = state.check_refusals(REJECTING)
        if alert is not None:
            opened.append(alert["alert_id"])
    return opened


def test_refusals_over_the_count_and_share_open_one_alert_and_a_replay_opens_the_same_one() -> None:
    letters = [(int(T0) + 10 * n, "signature") for n in range(12)]
    live = SourceState("donation/stripe")
    live.add_accepted({int(T0): 20}, arrived=T0, window_s=600)
    first = refusals(live, letters)
    assert len(first) == 1
    assert "signature" in (live.rejecting_alert or {}).get("detail", "")  # type: ignore[call-overload]
    replayed = SourceState("donation/stripe")
    replayed.add_accepted({int(T0): 20}, arrived=T0 + WEEK, window_s=600)
    assert refusals(replayed, letters) == first


def test_a_few_refusals_beside_much_accepted_traffic_are_not_a_source_being_refused() -> None:
    state = SourceState("donation/stripe")
    state.add_accepted({int(T0): 500}, arrived=T0, window_s=600)
    assert refusals(state, [(int(T0) + n, "schema") for n in range(30)]) == []  # 30 of 530


def test_the_alert_clears_once_the_window_moves_past_the_refusals() -> None:
    state = SourceState("donation/stripe")
    refusals(state, [(int(T0) + 10 * n, "signature") for n in range(12)])
    state.advance(T0 + 30 * 60)
    cleared = state.check_refusals(REJECTING)
    assert cleared is not None and cleared["status"] == "resolved" and state.rejecting_alert is None


def test_the_same_refusals_name_the_same_alert_however_they_were_batched() -> None:
    letters = [(int(T0) + 10 * n, "signature") for n in range(15)]
    one_by_one = refusals(SourceState("donation/stripe"), letters)
    for seed in range(5):
        shuffled = list(letters)
        random.Random(seed).shuffle(shuffled)
        all_at_once = SourceState("donation/stripe")
        for bucket, code in shuffled:
            all_at_once.add_refused(bucket, 1, code)
        alert = all_at_once.check_refusals(REJECTING)
        assert alert is not None and [alert["alert_id"]] == one_by_one


def test_what_a_source_keeps_is_bounded_four_weeks_of_hours_and_one_window_of_buckets() -> None:
    state = SourceState("donation/stripe")
    for day in range(60):
        state.add_accepted({int(T0 + day * 86400 + h * HOUR): 30 for h in range(24)}, T0, window_s=600)
    assert len(state.hourly) <= 4 * 168 and len(state.recent) <= 61
    silent_only = SourceState("email/ses")
    silent_only.add_accepted({int(T0) + 10 * n: 1 for n in range(500)}, T0)
    assert silent_only.recent == {}


def test_many_refusals_on_a_busy_source_are_a_source_being_refused_whatever_the_share() -> None:
    rule = REJECTING.model_copy(update={"max_refused": 100})
    state = SourceState("donation/stripe")
    state.add_accepted({int(T0): 5000}, arrived=T0, window_s=600)  # a busy source: 100 of 5100 is 2%
    for n in range(99):
        state.add_refused(int(T0) + n, 1, "signature")
    assert state.check_refusals(rule) is None
    state.add_refused(int(T0) + 99, 1, "signature")
    alert = state.check_refusals(rule)
    assert alert is not None and "or 100" in alert["detail"]
