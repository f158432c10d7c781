"""schemathesis against the running services' own OpenAPI documents: no 5xx, responses as documented."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.providers import SES_TOPIC_ARN, sendgrid_key
from tests.fixtures.system import System, isolated_topics, launch

pytestmark = pytest.mark.integration
CHECKS = "not_a_server_error,response_schema_conformance"


@pytest.fixture(scope="module")
def system(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """Every webhook's verifier set, so that the fuzzer reaches past the 503 of an unconfigured one."""
    tmp = tmp_path_factory.mktemp("fuzzing")
    certificates = tmp / "sns"
    certificates.mkdir()
    env = {
        "MP_STRIPE_WEBHOOK_SECRETS": "whsec_fuzz",
        "MP_SENDGRID_VERIFICATION_KEY": sendgrid_key()[1],
        "MP_SES_TOPIC_ARNS": SES_TOPIC_ARN,
        "MP_SNS_CERTIFICATE_DIR": str(certificates),
        "MP_BEACON_ORIGINS": "https://www.org.example",
        "MP_BEACON_SECRET": "fuzz",
        **isolated_topics("fuzzing"),
    }
    with launch(bootstrap, tmp / "system", **env) as running:
        yield running


@pytest.mark.parametrize("service", ["ingest", "api"])
def test_schemathesis_finds_no_server_error(system: System, service: str, tmp_path: Path) -> None:
    binary = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert binary, "schemathesis is not installed (it is a dev dependency)"
    url = system.url(service)
    # one worker: CPython 3.11's ast module is not thread-safe (gh-106905), and hypothesis parses lambdas
    # with it while describing strategies; two workers crashed schemathesis itself now and then
    result = subprocess.run(
        [binary, "run", f"{url}/openapi.json", "--url", url, "--checks", CHECKS, "--max-examples", "40",
         "--phases", "examples,coverage,fuzzing", "--workers", "1", "--exclude-path-regex", "/stream$",
         "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
