"""Retrying until stopped: transient errors are logged and retried, others are not, and no log
line carries a credential."""

import asyncio
import logging

import asyncpg
import pytest

from shared.platform.config import redacted
from shared.platform.retry import NotYet, retry_until_stopped


async def test_transient_errors_are_logged_with_their_reason_and_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = 0

    async def attempt() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionRefusedError("refused")
        return "connected"

    with caplog.at_level(logging.WARNING, logger="shared.platform.retry"):
        result = await retry_until_stopped(
            asyncio.Event(), attempt, transient=(OSError,), what="connecting", delay=0.001
        )

    assert (result, calls) == ("connected", 3)
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 2
    assert all("connecting failed (ConnectionRefusedError: refused)" in line for line in warnings)


async def test_other_errors_propagate() -> None:
    async def attempt() -> None:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        await retry_until_stopped(asyncio.Event(), attempt, transient=(OSError,), what="x")


async def test_a_stop_ends_the_wait_with_none() -> None:
    stop = asyncio.Event()

    async def attempt() -> int:
        stop.set()
        raise NotYet("another relay leads")

    assert await retry_until_stopped(stop, attempt, transient=(), what="leading") is None


async def test_waiting_for_a_precondition_warns_once_in_a_row(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = 0

    async def attempt() -> bool:
        nonlocal calls
        calls += 1
        if calls < 4:
            raise NotYet("another relay leads")
        return True

    with caplog.at_level(logging.DEBUG, logger="shared.platform.retry"):
        assert await retry_until_stopped(
            asyncio.Event(), attempt, transient=(), what="leading", delay=0.001
        )

    levels = [record.levelno for record in caplog.records]
    assert levels == [logging.WARNING, logging.DEBUG, logging.DEBUG]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("nats://127.0.0.1:4222", "nats://127.0.0.1:4222"),
        ("nats://s3cret-token@nats.internal:4222", "nats://***@nats.internal:4222"),
        ("postgresql://app:s3cret@db:5432/mastery", "postgresql://***@db:5432/mastery"),
        (
            "nats://a:s3cret@n1:4222,nats://a:s3cret@n2:4222",
            "nats://***@n1:4222,nats://***@n2:4222",
        ),
    ],
)
def test_credentials_never_reach_a_log_line(url: str, shown: str) -> None:
    assert redacted(url) == shown


async def test_what_the_shared_classification_calls_transient_is_retried_unlisted() -> None:
    calls = 0

    async def attempt() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise asyncpg.PostgresError.new(
                {"C": "57P03", "M": "the database system is starting up"}
            )
        if calls == 2:
            raise asyncpg.InterfaceError("pool is closed")
        return "sent"

    assert (
        await retry_until_stopped(asyncio.Event(), attempt, what="mailing", delay=0.001) == "sent"
    )
    assert calls == 3
