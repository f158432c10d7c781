"""Structured JSON-lines logging shared by the services."""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson

# Attributes every LogRecord has (and uvicorn's ANSI-coloured duplicate); the rest came in ``extra=``.
_STANDARD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per line: time, level, service, logger, message and any ``extra=`` fields."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRIBUTES})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


# The Kafka and stream libraries' DEBUG records quote the records they send and receive — keys and values,
# that is personal data — so they never log below INFO, whatever MP_LOG_LEVEL says (docs/privacy.md).
QUOTING_LIBRARIES = ("aiokafka", "faust", "mode")


def library_level(level: str) -> str:
    """The level of a library in QUOTING_LIBRARIES when the service logs at ``level``: never DEBUG."""
    return "INFO" if logging.getLevelName(level.upper()) < logging.INFO else level.upper()


def configure_logging(service: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLinesFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in QUOTING_LIBRARIES:
        logging.getLogger(name).setLevel(library_level(level))


def json_logging_config(service: str, level: str) -> dict[str, Any]:
    """The same JSON lines as a logging.config.dictConfig, for frameworks that configure logging themselves
    (Faust's worker)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonLinesFormatter, "service": service}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        # explicit levels: otherwise the Kafka client builds a debug record per message sent (a
        # profile found 6% of the scorer's time there) that the handler then throws away
        "loggers": {name: {"level": library_level(level)} for name in QUOTING_LIBRARIES},
    }
