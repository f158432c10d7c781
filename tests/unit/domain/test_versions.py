"""Model versions: how a new version's topics are named, what the control record holds, who is live."""

from __future__ import annotations

import pytest

from services.domain.versions import ModelVersion, VersionRecordError, is_live, versioned_names

VERSION = ModelVersion(
    "0123456789ab", "mp-scorer-v0123456789ab", "scores-v0123456789ab", "report-v0123456789ab", "x"
)


def test_a_new_version_is_named_from_the_base_names_never_nested() -> None:
    assert versioned_names("mp-scorer", "scores", "report", "0123456789ab") == (
        "mp-scorer-v0123456789ab",
        "scores-v0123456789ab",
        "report-v0123456789ab",
    )
    again = versioned_names("mp-scorer-v0123456789ab", "scores-v0123456789ab", "report", "fedcba987654")
    assert again == ("mp-scorer-vfedcba987654", "scores-vfedcba987654", "report-vfedcba987654")


def test_a_control_record_reads_back_as_written_and_anything_else_is_refused() -> None:
    assert ModelVersion.decode(VERSION.encode()) == VERSION
    for raw in (None, b"", b"{}", b'{"version": "1"}', b"[1]"):
        with pytest.raises(VersionRecordError):
            ModelVersion.decode(raw)


def test_the_live_scorer_is_the_one_the_active_record_names_or_without_one_any_but_a_candidate() -> None:
    assert is_live("mp-scorer", None, candidate=False)
    assert not is_live("mp-scorer-v0123456789ab", None, candidate=True)
    assert is_live("mp-scorer-v0123456789ab", VERSION, candidate=True)
    assert not is_live("mp-scorer", VERSION, candidate=False)  # superseded: its alerts go to its own topic
