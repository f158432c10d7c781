"""Model versions: which scoring model's scores the API serves, as a compacted control topic says.

A versioned rescore (``mission-pulse rescore --apply``, docs/scoring.md) runs a scorer under a new application
id that rebuilds every person from the retained touchpoints into topics of its own. Once it has caught up it
writes the ``active`` record naming its version and topics; every API replica builds views from those topics
and switches only when they are caught up, and every scorer that is not the active one sends its alerts and
dead letters to topics of its own instead of the shared ones. Pure: names, records and the rule of who is
live.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

import orjson

ACTIVE_KEY = b"active"  # the control topic's key naming the live version
VERSION_SUFFIX = re.compile(r"-v[0-9a-f]{12}$")  # what versioned_names appends to every name


class VersionRecordError(ValueError):
    """A control record that does not name a model version (an older format, or not one at all)."""


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """A scoring model version and where its scorer publishes."""

    version: str  # the model's fingerprint, as its score records carry it in ``model_version``
    app_id: str  # the scorer's application id (its consumer group, changelogs and internal topics)
    scores_topic: str
    reports_topic: str
    model_toml: str  # the model itself, so that every API replica presents its scores with it
    activated_at: float = 0.0  # when it became the active one (0: not yet)

    def encode(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def decode(cls, raw: bytes | None) -> ModelVersion:
        try:
            fields: dict[str, Any] = orjson.loads(raw or b"")
            return cls(
                version=str(fields["version"]),
                app_id=str(fields["app_id"]),
                scores_topic=str(fields["scores_topic"]),
                reports_topic=str(fields["reports_topic"]),
                model_toml=str(fields["model_toml"]),
                activated_at=float(fields.get("activated_at", 0.0)),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise VersionRecordError(f"not a model version record: {error}") from error


def unversioned(name: str) -> str:
    """``name`` without a version suffix: versions are named from the base names, never nested."""
    return VERSION_SUFFIX.sub("", name)


def versioned_names(app_id: str, scores_topic: str, reports_topic: str, version: str) -> tuple[str, str, str]:
    """The application id, scores topic and reports topic of a new version's scorer."""
    suffix = f"-v{version}"
    return (
        unversioned(app_id) + suffix,
        unversioned(scores_topic) + suffix,
        unversioned(reports_topic) + suffix,
    )


def is_live(own_app_id: str, active: ModelVersion | None, candidate: bool) -> bool:
    """Whether a scorer publishes to the shared alerts and dead-letters topics: the one the ``active`` record
    names; with none yet, every scorer that is not a candidate rebuilding a new version."""
    if active is None:
        return not candidate
    return active.app_id == own_app_id
