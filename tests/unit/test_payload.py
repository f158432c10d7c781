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
