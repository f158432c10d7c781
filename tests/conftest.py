"""Options every test run shares: ``--repeat N`` runs each selected test N times in one session
(`make stress`: the fault tests, over and over, the cluster started once per module)."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--repeat", type=int, default=1, help="run each selected test this many times")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    times = metafunc.config.getoption("repeat")
    if times > 1:
        metafunc.fixturenames.append("repeat_run")
        metafunc.parametrize("repeat_run", range(1, times + 1), ids=lambda n: f"run{n}")
