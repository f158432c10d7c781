"""Loading the configuration files named by MP_SCORING_CONFIG and MP_ALERTS_CONFIG."""

from __future__ import annotations

from pathlib import Path

from services.domain.alert_rules import AlertRules
from services.domain.scoring import ScoringModel


def _read(path: Path, what: str, variable: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise SystemExit(f"cannot read {what} {path} ({variable}): {error.strerror}") from error


def load_scoring_model(path: Path) -> ScoringModel:
    """Read and validate the model; a missing or invalid file stops start-up with a precise message."""
    try:
        return ScoringModel.from_toml(_read(path, "scoring config", "MP_SCORING_CONFIG"), origin=str(path))
    except ValueError as error:
        raise SystemExit(f"invalid scoring config: {error}") from error


def load_alert_rules(path: Path) -> AlertRules:
    """Read and validate the alert rules; a missing or invalid file stops start-up with a precise message."""
    try:
        return AlertRules.from_toml(_read(path, "alerts config", "MP_ALERTS_CONFIG"), origin=str(path))
    except ValueError as error:
        raise SystemExit(f"invalid alerts config: {error}") from error
