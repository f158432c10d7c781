"""How ingest splits a request body into candidate events."""

import pytest

from services.ingest.payload import PayloadError, split_events


def test_one_object_is_one_event() -> None:
    assert split_events(b'{"a": 1}', "application/json", 10) == [{"a": 1}]


def test_an_array_is_several_events() -> None:
    assert split_events(b'[{"a": 1}, {"b": 2}]', "application/json; charset=utf-8", 10) == [
        {"a": 1},
        {"b": 2},
    ]


def test_ndjson_skips_blank_lines() -> None:
    body = b'{"a": 1}\n\n{"b": 2}\n'
    assert split_events(body, "application/x-ndjson", 10) == [{"a": 1}, {"b": 2}]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        (b"{not json", "application/json", 400, "body is not valid JSON"),
        (b'"a string"', "application/json", 400, "body must be a JSON object"),
        (b'{"a": 1}\n{oops', "application/x-ndjson", 400, "line 2 is not valid JSON"),
        (b"[]", "application/json", 422, "no events in the body"),
        (
            b"[" + b",".join([b"{}"] * 11) + b"]",
            "application/json",
            413,
            "11 events in one request, at most 10",
        ),
    ],
)
def test_bodies_that_cannot_be_used_say_why(
    body: bytes, content_type: str, status: int, message: str
) -> None:
    with pytest.raises(PayloadError) as raised:
        split_events(body, content_type, 10)
    assert raised.value.status == status
    assert raised.value.message.startswith(message)


def test_only_complete_touchpoints_posted_to_the_api_are_replayed() -> None:
    from services.ingest.replay import replayable

    letters = [
        {"source": "api", "service": "ingest", "reason_code": "schema", "payload": '{"event_id": "a"}'},
        {"source": "api", "service": "ingest", "reason_code": "unparseable", "payload": "{oops"},
        {"source": "stripe", "service": "ingest", "reason_code": "signature", "payload": "{}"},
        {"source": "api", "service": "ingest", "reason_code": "schema", "payload": "{", "truncated": True},
    ]
    chosen, skipped = replayable(letters, reason_code=None)
    assert chosen == [{"event_id": "a"}]
    assert skipped == {"not JSON": 1, "from stripe (cannot be re-signed or re-read)": 1, "truncated": 1}
    assert replayable(letters, reason_code="signature")[0] == []
