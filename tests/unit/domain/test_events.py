"""The touchpoint v1 contract, as ingest enforces it."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.domain.events import metric_labels, occurred_at_epoch, validation_error

VALID = {
    "event_id": "pay_3PqX-failed",
    "source": "donation",
    "type": "donation.failed",
    "occurred_at": "2026-11-25T14:03:00Z",
    "constituent_id": "c-10423",
    "department": "fundraising",
    "correlation_id": "pay_3PqX",
    "attributes": {"amount": 50, "currency": "USD", "recurring": True, "error_code": "card_declined"},
}


def with_(**changes: object) -> dict[str, object]:
    event = dict(VALID)
    event.update(changes)
    return event


def without(field: str) -> dict[str, object]:
    return {k: v for k, v in VALID.items() if k != field}


def test_the_documented_example_is_valid() -> None:
    assert validation_error(VALID) is None


def test_offsets_other_than_utc_are_valid() -> None:
    assert validation_error(with_(occurred_at="2026-11-25T15:03:00.123+01:00")) is None


def test_a_lower_case_t_and_z_are_valid_as_rfc_3339_allows_and_read_as_upper_case() -> None:
    """Issue 34: jsonschema accepted them, the fast path refused them, and the answer was only "event: not
    a valid touchpoint"; now both accept, and the event time reads the same."""
    lower = with_(occurred_at="2026-11-25t14:03:00z")
    assert validation_error(lower) is None
    assert occurred_at_epoch(lower) == occurred_at_epoch(VALID)


@pytest.mark.parametrize(
    ("source", "event_type", "owner"),
    [
        ("web", "donation.failed", "donation"),
        ("donation", "web.page_view", "web"),
        ("email", "event.attended", "events"),
        ("crm", "email.bounced", "email"),
    ],
)
def test_each_source_owns_its_types(source: str, event_type: str, owner: str) -> None:
    """Issue 34: a key allowed only web could post donation.failed for anyone (a critical alert)."""
    error = validation_error(with_(source=source, type=event_type))
    assert error == f"source: {event_type} comes only from source {owner!r}"
    assert validation_error(with_(source=owner, type=event_type)) is None


def test_types_of_other_families_are_free_for_any_source() -> None:
    assert validation_error(with_(source="crm", type="crm.synced")) is None
    assert validation_error(with_(source="web", type="webinar.joined")) is None  # not the web family


@pytest.mark.parametrize("field", ["event_id", "source", "type", "occurred_at", "constituent_id"])
def test_required_fields_are_named_when_missing(field: str) -> None:
    assert validation_error(without(field)) == f"event: '{field}' is a required property"


@pytest.mark.parametrize(
    ("change", "expected_start"),
    [
        ({"event_id": ""}, "event_id:"),
        ({"event_id": "x" * 129}, "event_id:"),
        ({"constituent_id": "x" * 129}, "constituent_id:"),
        ({"type": "DonationFailed"}, "type:"),
        ({"type": "donation"}, "type:"),
        ({"occurred_at": "2026-11-25T14:03:00"}, "occurred_at:"),
        ({"occurred_at": "yesterday"}, "occurred_at:"),
        ({"attributes": ["not", "an", "object"]}, "attributes:"),
        ({"surprise": 1}, "event: only the fields of schemas/touchpoint.v1.json are allowed"),
    ],
)
def test_each_broken_rule_is_reported_with_its_field(change: dict[str, object], expected_start: str) -> None:
    error = validation_error(with_(**change))
    assert error is not None
    assert error.startswith(expected_start)


def test_attributes_are_limited_to_16_kib_serialized() -> None:
    assert validation_error(with_(attributes={"note": "x" * 16_000})) is None
    error = validation_error(with_(attributes={"note": "x" * 16_400}))
    assert error is not None and error.startswith("attributes: 16") and error.endswith("at most 16384")


def test_non_objects_are_rejected() -> None:
    assert validation_error([VALID]) == "event: must be a JSON object"


@pytest.mark.parametrize(
    "field", ["event_id", "source", "type", "occurred_at", "constituent_id", "department"]
)
@pytest.mark.parametrize(
    "value", ["ada.lovelace@example.org", "Ada Lovelace of 12 St James's Square", "x" * 200]
)
def test_a_reason_names_the_field_and_the_rule_never_the_value(field: str, value: str) -> None:
    """Issue 34: a reason is answered to the sender and kept with the dead letter; it quoted the value."""
    error = validation_error(with_(**{field: value}))
    if error is not None:
        assert error.startswith(f"{field}:") and value[:20] not in error
    assert "ada" not in (validation_error(with_(**{value[:30]: 1})) or "").lower()  # a key nobody expects


def test_metric_labels_stay_within_the_vocabulary() -> None:
    assert metric_labels(VALID) == ("donation", "donation.failed")
    assert metric_labels(with_(source="crm", type="crm.synced")) == ("other", "other")
    assert metric_labels("garbage") == ("other", "other")
    unhashable = {"source": [], "type": {}}  # a 500 schemathesis found
    assert metric_labels(unhashable) == ("other", "other")


json_integers = st.integers(min_value=-(2**63), max_value=2**64 - 1)  # orjson reads larger ones as floats
field_values = st.one_of(
    st.text(max_size=140),
    json_integers,
    st.none(),
    st.booleans(),
    st.sampled_from(
        [
            "2026-11-25T14:03:00Z",
            "2026-11-25t14:03:00z",
            "2026-11-25T14:03:00z",
            "2026-11-25T14:03:00",
            "2026-13-25T14:03:00Z",
            "donation.failed",
            "web.page_view",
            "event.attended",
            "Donation",
            "web",
            "events",
            "email",
            "",
            "x" * 129,
        ]
    ),
    st.dictionaries(st.text(max_size=5), json_integers, max_size=3),
)


@settings(max_examples=500)
@given(st.dictionaries(st.sampled_from([*VALID, "extra"]), field_values), st.booleans())
def test_the_fast_validator_agrees_with_jsonschema(changes: dict[str, object], drop_one: bool) -> None:
    from services.domain.events import _validator

    candidate = {**VALID, **changes}
    if drop_one and changes:
        candidate.pop(next(iter(changes)))
    reference = next(_validator().iter_errors(candidate), None) is None
    assert (validation_error(candidate) is None) == reference
