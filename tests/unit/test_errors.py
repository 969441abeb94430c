"""One classification: what is worth trying again unchanged, checked on real exception instances
(PostgreSQL ones built from their SQLSTATE the way asyncpg builds them off the wire)."""

import errno
import socket

import asyncpg
import nats.errors
import nats.js.errors
import pytest

from shared.platform.errors import Permanent, RetryLater, Transient, classify, is_transient


def from_server(sqlstate: str, message: str = "from the server") -> asyncpg.PostgresError:
    """An error as asyncpg raises it for an ErrorResponse with this SQLSTATE."""
    return asyncpg.PostgresError.new({"C": sqlstate, "M": message, "S": "FATAL"})


@pytest.mark.parametrize(
    ("sqlstate", "expected_type"),
    [
        ("57P03", asyncpg.exceptions.CannotConnectNowError),  # shutting down, starting up
        ("57P01", asyncpg.exceptions.AdminShutdownError),  # pg_terminate_backend, fast shutdown
        ("57P02", asyncpg.exceptions.CrashShutdownError),
        ("57P05", asyncpg.exceptions.IdleSessionTimeoutError),
        ("08006", asyncpg.exceptions.ConnectionFailureError),
        ("08003", asyncpg.exceptions.ConnectionDoesNotExistError),
        ("08001", asyncpg.exceptions.ClientCannotConnectError),
        ("08P01", asyncpg.exceptions.ProtocolViolationError),
        ("53300", asyncpg.exceptions.TooManyConnectionsError),
        ("40001", asyncpg.exceptions.SerializationError),
        ("40P01", asyncpg.exceptions.DeadlockDetectedError),
    ],
)
def test_postgresql_unavailable_or_a_lost_race_is_transient(
    sqlstate: str, expected_type: type[Exception]
) -> None:
    error = from_server(sqlstate)
    assert isinstance(error, expected_type)
    assert classify(error) == Transient("PostgreSQL")


@pytest.mark.parametrize(
    "sqlstate",
    [
        "23505",  # unique_violation
        "42P01",  # undefined_table: a bug, or a migration not applied
        "22P02",  # invalid_text_representation
        "42501",  # insufficient_privilege
        "57P04",  # database_dropped: waiting will not bring it back
        "57014",  # query_canceled
        "53100",  # disk_full
        "XX000",  # internal_error
    ],
)
def test_other_postgresql_errors_are_permanent(sqlstate: str) -> None:
    assert classify(from_server(sqlstate)) == Permanent()


def test_an_unknown_sqlstate_of_a_transient_class_is_transient() -> None:
    error = from_server("08042")  # no asyncpg class of its own
    assert error.sqlstate == "08042"
    assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.InterfaceError("pool is closed"),
        asyncpg.InterfaceError("cannot perform operation: connection is closed"),
        asyncpg.exceptions.ConnectionDoesNotExistError(
            "connection was closed in the middle of operation"
        ),
        # Seen on a pooled connection used while it took in the server's 57P01.
        asyncpg.exceptions.InternalClientError(
            "cannot switch to state 11; another operation (2) is in progress"
        ),
        asyncpg.exceptions.TargetServerAttributeNotMatched("None of the hosts match"),
    ],
)
def test_a_closed_pool_or_connection_is_transient(error: Exception) -> None:
    assert classify(error) == Transient("PostgreSQL")


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions._base.DataError("invalid input for query argument $1"),
        asyncpg.exceptions.ClientConfigurationError("bad DSN"),
        asyncpg.exceptions.UnsupportedClientFeatureError("no"),
    ],
)
def test_an_interface_error_that_is_the_callers_mistake_is_permanent(error: Exception) -> None:
    assert classify(error) == Permanent()


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
        ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
        OSError(errno.EHOSTUNREACH, "No route to host"),
        TimeoutError(),
        socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"),
    ],
)
def test_network_failures_and_timeouts_are_transient(error: Exception) -> None:
    assert classify(error) == Transient("a server it depends on")


@pytest.mark.parametrize(
    "error",
    [
        nats.errors.TimeoutError(),
        nats.errors.FlushTimeoutError(),
        nats.js.errors.FetchTimeoutError(),
        nats.errors.NoRespondersError(),
        nats.errors.NoServersError(),
        nats.errors.ConnectionClosedError(),
        nats.errors.ConnectionReconnectingError(),
        nats.errors.UnexpectedEOF(),
        nats.errors.StaleConnectionError(),
        nats.errors.OutboundBufferLimitError(),
        nats.js.errors.ServiceUnavailableError(code=503, description="JetStream not ready"),
        nats.js.errors.NoStreamResponseError(),
    ],
)
def test_nats_disconnects_and_timeouts_are_transient(error: Exception) -> None:
    assert classify(error) == Transient("NATS")


@pytest.mark.parametrize(
    "error",
    [
        nats.js.errors.BadRequestError(code=400, description="consumer name in subject"),
        nats.js.errors.NotFoundError(code=404, description="stream not found"),
        nats.errors.AuthorizationError(),
        nats.errors.MaxPayloadError(),
        nats.errors.BadSubjectError(),
    ],
)
def test_nats_refusals_are_permanent(error: Exception) -> None:
    assert classify(error) == Permanent()


def test_retry_later_is_transient() -> None:
    assert classify(RetryLater("the voided attempt is not projected yet")) == Transient(
        "an event not yet delivered"
    )


@pytest.mark.parametrize(
    "error", [ValueError("bad"), KeyError("k"), RuntimeError("bug"), ZeroDivisionError()]
)
def test_bugs_are_permanent(error: Exception) -> None:
    assert not is_transient(error)


def test_an_error_raised_from_a_transient_one_is_transient() -> None:
    def load_standard() -> None:
        try:
            raise from_server("57P03", "the database system is shutting down")
        except asyncpg.PostgresError as cause:
            raise RuntimeError("could not load the standard") from cause

    with pytest.raises(RuntimeError) as raised:
        load_standard()
    assert is_transient(raised.value)
    assert not is_transient(RuntimeError("could not load the standard"))


def test_a_group_is_transient_only_when_every_error_in_it_is() -> None:
    transient = ExceptionGroup("all down", [OSError("refused"), from_server("57P01")])
    mixed = ExceptionGroup("one bug", [OSError("refused"), ValueError("bug")])
    assert is_transient(transient)
    assert not is_transient(mixed)
