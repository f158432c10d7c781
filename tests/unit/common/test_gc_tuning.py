"""Garbage collection tuned for services that allocate many short-lived objects per message."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from services.common.gc_tuning import tune_garbage_collection


@pytest.fixture
def restored_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


@pytest.mark.usefixtures("restored_gc")
def test_start_up_objects_are_frozen_and_young_collections_come_less_often() -> None:
    gc.unfreeze()
    _, middle, old = gc.get_threshold()

    tune_garbage_collection(10_000)

    assert gc.get_threshold() == (10_000, middle, old)  # older generations keep their settings
    assert gc.get_freeze_count() > 0
