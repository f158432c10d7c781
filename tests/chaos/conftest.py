"""The chaos soak runs for half an hour: only when asked for by name (`make chaos` sets MP_CHAOS=1), never
because someone ran plain `pytest` at the top of the project."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("MP_CHAOS") == "1":
        return
    skip = pytest.mark.skip(reason="the 30-minute chaos soak runs with `make chaos` (MP_CHAOS=1)")
    for item in items:
        if "chaos" in item.keywords:
            item.add_marker(skip)
