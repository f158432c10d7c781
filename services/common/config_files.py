"""Loading the configuration files named by MP_SCORING_CONFIG and MP_ALERTS_CONFIG, and ConfigError.

Library code raises ConfigError for a configuration a service cannot start with (a missing or invalid
file, a missing secret); only ``services/cli.py`` turns it into an exit with its message.
"""

from __future__ import annotations

from pathlib import Path

from services.domain.alerts.rules import AlertRules
from services.domain.scoring_model import ScoringModel


class ConfigError(Exception):
    """A service cannot start with this configuration; the message says what to fix."""


def read_config_file(path: Path, what: str, variable: str) -> str:
    """The file's text; ConfigError naming the file, the variable that chose it and why it failed."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read {what} {path} ({variable}): {error.strerror}") from error


def load_scoring_model(path: Path) -> ScoringModel:
    """Read and validate the model; a missing or invalid file stops start-up with a precise message."""
    try:
        text = read_config_file(path, "scoring config", "MP_SCORING_CONFIG")
        return ScoringModel.from_toml(text, origin=str(path))
    except ValueError as error:
        raise ConfigError(f"invalid scoring config: {error}") from error


def load_alert_rules(path: Path) -> AlertRules:
    """Read and validate the alert rules; a missing or invalid file stops start-up with a precise message."""
    try:
        text = read_config_file(path, "alerts config", "MP_ALERTS_CONFIG")
        return AlertRules.from_toml(text, origin=str(path))
    except ValueError as error:
        raise ConfigError(f"invalid alerts config: {error}") from error
