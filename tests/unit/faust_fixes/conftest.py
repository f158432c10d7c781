"""Every test here starts from faust-streaming as released (the scorer's import installs the fixes for the
whole process); a test puts the fixes in place itself (``installed``) to run Faust's code both ways."""

from collections.abc import Iterator

import pytest

from services.faust_fixes import as_released


@pytest.fixture(autouse=True)
def faust_as_released() -> Iterator[None]:
    with as_released():
        yield
