"""Unit-test fixtures: the shipped scoring model and alert rules, loaded once per session."""

from __future__ import annotations

import pytest

from services.domain.alerts.rules import AlertRules
from services.domain.scoring import ScoringModel
from tests.fixtures.config import MODEL, RULES


@pytest.fixture(scope="session")
def model() -> ScoringModel:
    return MODEL


@pytest.fixture(scope="session")
def rules() -> AlertRules:
    return RULES
