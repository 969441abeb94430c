"""The process-wide log configuration: one JSON line per record, URL credentials masked."""

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from litestar import Litestar, get
from litestar.testing import TestClient

from shared.platform.config import masked_urls
from shared.platform.logs import access_log, configure_logging


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    output = io.StringIO()
    configure_logging(output)
    yield output
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def test_records_of_any_logger_are_one_json_line_each_with_credentials_masked(
    log_output: io.StringIO,
) -> None:
    logger = logging.getLogger("shared.platform.retry")
    logger.warning("cannot reach %s\nFAKE LINE", "postgresql://app:pw-1@db:5432/mastery")
    error = ValueError("bad\r\nthing at nats://token-2@nats:4222")
    logger.error("worker %s failed", "projector\x1b[31m", exc_info=error)
    lines = log_output.getvalue().splitlines()
    assert len(lines) == 2
    first, second = map(json.loads, lines)
    assert first["event"] == "cannot reach postgresql://***@db:5432/mastery\nFAKE LINE"
    assert (first["level"], first["logger"]) == ("warning", "shared.platform.retry")
    assert second["event"] == "worker projector\x1b[31m failed"
    assert "ValueError: bad\r\nthing at nats://***@nats:4222" in second["exception"]
    assert "pw-1" not in log_output.getvalue()
    assert "token-2" not in log_output.getvalue()


@pytest.mark.parametrize(
    ("text", "masked"),
    [("postgresql://u:p@h:5432/d", "postgresql://***@h:5432/d"),
     ("see smtps://user:p%40ss@mail:465 and nats://t@n:4222", "see smtps://***@mail:465 and nats://***@n:4222"),
     ("http://127.0.0.1:8001/health/ready", "http://127.0.0.1:8001/health/ready"),
     ("mailto-like user@example.org", "mailto-like user@example.org")],
)  # fmt: skip
def test_masked_urls(text: str, masked: str) -> None:
    assert masked_urls(text) == masked


def test_the_access_log_masks_an_unsubscribe_token(log_output: io.StringIO) -> None:
    @get("/v1/unsubscribe/{token:str}", sync_to_thread=False)
    def page() -> str:
        return "ok"

    app = Litestar([page], middleware=[access_log], logging_config=None)
    with TestClient(app) as client:
        assert client.get("/v1/unsubscribe/eyJzZWNyZXQ.bWFj").status_code == 200
    lines = [json.loads(each) for each in log_output.getvalue().splitlines()]
    [access] = [line for line in lines if line["logger"] == "mastery.access"]
    assert access["path"] == "/v1/unsubscribe/***"
