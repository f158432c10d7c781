"""Unit-test fixtures: the shipped scoring model and alert rules, loaded once per session; hypothesis
without its 200 ms deadline (these machines are shared: a slow example is not a failing one)."""

from __future__ import annotations

import pytest
from hypothesis import settings

from services.domain.alerts.rules import AlertRules
from services.domain.scoring_model import ScoringModel
from tests.fixtures.config import MODEL, RULES

settings.register_profile("mission-pulse", deadline=None)
settings.load_profile("mission-pulse")


@pytest.fixture(scope="session")
def model() -> ScoringModel:
    return MODEL


@pytest.fixture(scope="session")
def rules() -> AlertRules:
    return RULES
