"""Logging: MP_LOG_LEVEL=DEBUG is for Mission Pulse's own loggers; the Kafka and stream libraries, whose
DEBUG records quote the records they send (personal data), stay at INFO."""

from __future__ import annotations

import logging

import pytest

from services.common.logs import QUOTING_LIBRARIES, configure_logging, json_logging_config


@pytest.mark.parametrize("level", ["DEBUG", "debug", "INFO", "WARNING"])
def test_the_libraries_that_quote_records_never_log_below_info(level: str) -> None:
    configure_logging("test", level)
    expected = max(logging.INFO, logging.getLevelName(level.upper()))
    assert logging.getLogger().level == logging.getLevelName(level.upper())
    for name in QUOTING_LIBRARIES:
        assert logging.getLogger(name).level == expected, name
        assert json_logging_config("test", level)["loggers"][name]["level"] == logging.getLevelName(expected)
    configure_logging("test", "INFO")
