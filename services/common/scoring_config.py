"""Loading the scoring model file named by MP_SCORING_CONFIG."""

from __future__ import annotations

from pathlib import Path

from services.domain.scoring import ScoringModel


def load_scoring_model(path: Path) -> ScoringModel:
    """Read and validate the model; a missing or invalid file stops start-up with a precise message."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SystemExit(
            f"cannot read scoring config {path} (MP_SCORING_CONFIG): {error.strerror}"
        ) from error
    try:
        return ScoringModel.from_toml(text, origin=str(path))
    except ValueError as error:
        raise SystemExit(f"invalid scoring config: {error}") from error
