"""Splitting a request body into candidate events: one JSON object, a JSON array, or NDJSON. Pure."""

from __future__ import annotations

import orjson

NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")


class PayloadError(Exception):
    """The body as a whole cannot be used; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def split_events(body: bytes, content_type: str, max_events: int) -> list[object]:
    """The candidate events in ``body``, each still to be validated."""
    media_type = content_type.split(";")[0].strip().lower()
    if media_type in NDJSON_TYPES:
        candidates: list[object] = []
        for number, line in enumerate(body.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                candidates.append(orjson.loads(line))
            except orjson.JSONDecodeError as error:
                raise PayloadError(400, f"line {number} is not valid JSON: {error}") from error
    else:
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            raise PayloadError(400, f"body is not valid JSON: {error}") from error
        if isinstance(parsed, list):
            candidates = parsed
        elif isinstance(parsed, dict):
            candidates = [parsed]
        else:
            raise PayloadError(400, "body must be a JSON object, a JSON array of objects, or NDJSON")
    if not candidates:
        raise PayloadError(422, "no events in the body")
    if len(candidates) > max_events:
        raise PayloadError(413, f"{len(candidates)} events in one request, at most {max_events}")
    return candidates
