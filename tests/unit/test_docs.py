"""The README's configuration table names every setting a service reads."""

from pathlib import Path

from services.api.settings import ApiSettings
from services.ingest.settings import IngestSettings
from services.scorer.settings import ScorerSettings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_setting_is_documented_in_the_readme() -> None:
    names = {
        f"MP_{field.upper()}"
        for cls in (IngestSettings, ScorerSettings, ApiSettings)
        for field in cls.model_fields
    }
    missing = sorted(name for name in names if f"`{name}`" not in README)
    assert not missing, f"README.md does not document {missing}"


def test_the_readme_shows_both_commands_at_the_top() -> None:
    top = "\n".join(README.splitlines()[:20])
    assert "make run" in top and "make test" in top
