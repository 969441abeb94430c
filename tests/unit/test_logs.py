"""The process-wide log configuration: one JSON line per record, URL credentials masked, and a
request's id and tenant on each of its lines."""

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from litestar import Litestar, get
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.testing import TestClient

from shared.platform.config import masked_urls
from shared.platform.logs import access_log, bind_tenant, configure_logging
from shared.platform.tenancy import ApiKey


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


def _app_logging_inside_a_request() -> Litestar:
    """An app whose handler logs through the standard library and through structlog, behind a
    guard that verifies a key for tenant `school-7` as the key guard does."""

    def verified(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        connection.scope["auth"] = ApiKey(key_id="k1", tenant_id="school-7", scope="read", label="")

    @get("/v1/work", sync_to_thread=False)
    def work() -> str:
        logging.getLogger("shared.platform.somewhere").warning("stdlib line")
        structlog.stdlib.get_logger("mastery.somewhere").info("structlog line")
        return "ok"

    return Litestar(
        [work], middleware=[access_log], guards=[verified, bind_tenant], logging_config=None
    )


def test_every_line_of_a_request_carries_its_request_id_and_tenant(
    log_output: io.StringIO,
) -> None:
    with TestClient(_app_logging_inside_a_request()) as client:
        kept = client.get("/v1/work", headers={"X-Request-ID": "req-2026.abc_1"})
        replaced = client.get("/v1/work", headers={"X-Request-ID": "a b\nforged"})
        generated = client.get("/v1/work")
    assert kept.headers["X-Request-ID"] == "req-2026.abc_1"
    assert replaced.headers["X-Request-ID"] != "a b\nforged"
    assert re.fullmatch("[0-9a-f]{32}", replaced.headers["X-Request-ID"])
    assert generated.headers["X-Request-ID"] not in ("", replaced.headers["X-Request-ID"])
    lines = [json.loads(each) for each in log_output.getvalue().splitlines()]
    mine = [line for line in lines if line.get("request_id") == "req-2026.abc_1"]
    assert [line["event"] for line in mine] == ["stdlib line", "structlog line", "request"]
    assert all(line["tenant"] == "school-7" for line in mine)
    ids = {line["request_id"] for line in lines if "request_id" in line}
    assert ids == {response.headers["X-Request-ID"] for response in (kept, replaced, generated)}


def test_lines_outside_a_request_carry_no_request_id(log_output: io.StringIO) -> None:
    with TestClient(_app_logging_inside_a_request()) as client:
        client.get("/v1/work")
    logging.getLogger("shared.platform.worker").warning("between requests")
    [line] = [json.loads(each) for each in log_output.getvalue().splitlines()][-1:]
    assert line["event"] == "between requests"
    assert "request_id" not in line
    assert "tenant" not in line
