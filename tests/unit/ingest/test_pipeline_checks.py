"""What ingest makes of the events of a request before they go to Kafka: the valid ones accepted in their
canonical form, the others refused with the field that broke a rule."""

from __future__ import annotations

from services.domain.identity import IdentityKeys, IdentityMap
from services.ingest.pipeline import IngestPipeline
from services.ingest.settings import IngestSettings


def pipeline() -> IngestPipeline:
    settings = IngestSettings(identity_secret="test", environment="development")
    return IngestPipeline(settings, IdentityMap(IdentityKeys(b"test")))


def event(**changes: object) -> dict[str, object]:
    base = {
        "event_id": "e-1",
        "source": "donation",
        "type": "donation.failed",
        "occurred_at": "2026-11-25T14:03:00Z",
        "constituent_id": "c-1",
    }
    return {**base, **changes}


def test_a_lower_case_date_time_is_accepted_and_written_in_upper_case() -> None:
    """Alerts carry occurred_at as the event had it, and read it back with Python's ISO parser, which
    knows only the upper-case form."""
    ingest = pipeline()
    outcome = ingest.new_outcome("test")
    ingest.check_events([event(occurred_at="2026-11-25t14:03:00.5z")], "api", outcome)
    assert [e["occurred_at"] for e in outcome.accepted] == ["2026-11-25T14:03:00.5Z"]


def test_an_event_of_a_type_its_source_does_not_own_is_refused_with_the_reason() -> None:
    ingest = pipeline()
    outcome = ingest.new_outcome("test")
    ingest.check_events([event(source="web"), event(event_id="e-2")], "api", outcome)
    assert outcome.rejected == [(0, "source: donation.failed comes only from source 'donation'")]
    assert [e["event_id"] for e in outcome.accepted] == ["e-2"]


async def test_dead_letters_kafka_did_not_take_are_counted_not_dropped_in_silence() -> None:
    """docs/reliability.md said nothing refused is dropped silently; with Kafka away the letters of a
    request with nothing accepted were only logged (issue 34)."""
    from prometheus_client import REGISTRY

    from services.common.kafka import KafkaUnavailable

    ingest = pipeline()

    async def away(records: object) -> None:
        raise KafkaUnavailable("no broker")

    ingest.producer.send_all = away  # type: ignore[method-assign, assignment]
    outcome = ingest.new_outcome("test")
    ingest.check_events([event(source="web"), event(source="web", event_id="e-2")], "api", outcome)
    before = REGISTRY.get_sample_value("mp_ingest_dead_letters_unwritten_total", {"source": "api"}) or 0.0
    await ingest.commit(outcome)  # the caller is answered its refusals all the same
    after = REGISTRY.get_sample_value("mp_ingest_dead_letters_unwritten_total", {"source": "api"})
    assert after == before + 2
