"""Reading a TOML configuration into a validated, immutable model. Pure: no I/O."""

from __future__ import annotations

import tomllib
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class StrictModel(BaseModel):
    """Configuration: unknown fields are errors, values never change after loading."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class EventMatch(StrictModel):
    """An event of ``type`` whose attributes include all of ``attributes`` (``matching.matches``)."""

    type: str
    attributes: dict[str, str | int | float | bool] = Field(default_factory=dict)


Config = TypeVar("Config", bound=BaseModel)


def parse_toml(model: type[Config], text: str, origin: str) -> Config:
    """Parse and validate; raise ValueError naming the origin, each field and what is wrong with it."""
    try:
        return model.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{origin}: not valid TOML: {error}") from error
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in error.errors()
        )
        raise ValueError(f"{origin}: {problems}") from error
