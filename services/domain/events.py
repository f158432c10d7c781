"""The touchpoint v1 contract: validating raw JSON against schemas/touchpoint.v1.json.

Pure: no Kafka, no HTTP. The JSON Schema file is the single source of truth (which source owns which types
included); the few rules JSON Schema cannot express (the serialized size of ``attributes``) are checked here
beside it. RFC 3339 date-times (which require an offset; "T" and "Z" may be lower case, as RFC 3339 allows)
are checked by the same rule in both validators.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import fastjsonschema
import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from rfc3339_validator import validate_rfc3339

import services

# from the (uncompiled) package: a module mypyc compiled has the shared library's path as its __file__
SCHEMA_PATH = Path(services.__file__).resolve().parents[1] / "schemas" / "touchpoint.v1.json"
MAX_ATTRIBUTES_BYTES = 16 * 1024

Event = dict[str, Any]


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    schema = orjson.loads(SCHEMA_PATH.read_bytes())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


@lru_cache(maxsize=1)
def _fast_validator() -> Callable[[object], object]:
    """The same schema compiled to Python by fastjsonschema (about 13x faster), with the same RFC 3339
    check jsonschema uses. The schema only uses keywords whose meaning draft-07 shares with 2020-12."""
    schema = orjson.loads(SCHEMA_PATH.read_bytes())
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    return fastjsonschema.compile(schema, formats={"date-time": _rfc3339})


def _rfc3339(value: str) -> bool:
    """jsonschema's own date-time rule: RFC 3339, whose "T" and "Z" may be lower case (section 5.6)."""
    return bool(validate_rfc3339(value.upper()))


def _describe(error: ValidationError) -> str:
    """The field and the rule it broke — never the value: a refused event's reason is shown to its sender
    and kept with its dead letter, and the value may be an email address or a name (docs/privacy.md)."""
    where = ".".join(str(part) for part in error.absolute_path) or "event"
    rule, expected = error.validator, error.validator_value
    if rule == "required":
        return f"{where}: {error.message}"  # the schema's own field name
    described = {
        "additionalProperties": "only the fields of schemas/touchpoint.v1.json are allowed",
        "type": f"must be {_a(expected)}",
        "maxLength": f"longer than {expected} characters",
        "minLength": "empty" if expected == 1 else f"shorter than {expected} characters",
        "pattern": f"does not match {expected}",
        "format": "not an RFC 3339 date-time with an offset"
        if expected == "date-time"
        else f"not a valid {expected}",
    }
    return f"{where}: {described.get(str(rule), f'breaks the schema ({rule})')}"


def _a(expected: object) -> str:
    kinds = expected if isinstance(expected, list) else [expected]
    names = {"object": "a JSON object", "string": "a string", "array": "an array", "integer": "an integer"}
    return " or ".join(names.get(str(kind), str(kind)) for kind in kinds)


def validation_error(candidate: object) -> str | None:
    """Why ``candidate`` is not a valid touchpoint v1 event, or None when it is.

    Valid events (the common case) take the compiled validator only; an invalid one is described by
    jsonschema, whose messages name the field precisely."""
    try:
        _fast_validator()(candidate)
    except fastjsonschema.JsonSchemaValueException:
        error = best_match(_validator().iter_errors(candidate))
        if error is None:  # the two validators disagree: a bug (a test holds them to one answer)
            return "event: not a valid touchpoint"
        if error.validator == "const" and list(error.absolute_path) == ["source"]:
            return f"source: {candidate['type']} comes only from source {error.validator_value!r}"  # type: ignore[index]
        return _describe(error)
    if not isinstance(candidate, dict):  # the schema says object; this tells the type checker too
        return "event: not a JSON object"
    attributes = candidate.get("attributes")
    if attributes is not None:
        try:
            size = len(orjson.dumps(attributes))
        except TypeError as error:  # only from Python callers: JSON bodies never hold such values
            return f"attributes: not serialisable as JSON ({error})"
        if size > MAX_ATTRIBUTES_BYTES:
            return f"attributes: {size} bytes serialized, at most {MAX_ATTRIBUTES_BYTES}"
    return None


def occurred_at_epoch(event: Event) -> float:
    """Event time of a validated event, in seconds since the epoch (a lower-case "t" or "z" too)."""
    return datetime.fromisoformat(event["occurred_at"].upper()).timestamp()


# The documented vocabulary (schemas/README.md). Other well-formed types are accepted; metrics label them
# "other" so that a misbehaving sender cannot multiply time series.
VOCABULARY = frozenset(
    {
        "web.page_view",
        "web.form_submitted",
        "web.error",
        "web.login_failed",
        "email.sent",
        "email.delivered",
        "email.opened",
        "email.clicked",
        "email.bounced",
        "email.complained",
        "email.unsubscribed",
        "donation.succeeded",
        "donation.failed",
        "donation.refunded",
        "donation.recurring_cancelled",
        "event.registered",
        "event.attended",
        "event.cancelled",
    }
)
KNOWN_SOURCES = frozenset({"web", "email", "donation", "events"})


def metric_labels(event: object) -> tuple[str, str]:
    """Low-cardinality (source, type) labels for an event, valid or not."""
    if not isinstance(event, dict):
        return "other", "other"
    source, event_type = event.get("source"), event.get("type")
    return (
        source if isinstance(source, str) and source in KNOWN_SOURCES else "other",
        event_type if isinstance(event_type, str) and event_type in VOCABULARY else "other",
    )
