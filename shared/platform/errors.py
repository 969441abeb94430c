"""One classification of failures, shared by every worker and the HTTP layer.

A failure is *transient* when the same operation, tried again later unchanged, can succeed: a
dependency is down, restarting or overloaded (PostgreSQL shutting down or recovering, a dropped
connection, NATS reconnecting), or the operation lost a race the database resolves by aborting one
side (serialization failure, deadlock), or the handler said so itself (`RetryLater`). Everything
else is *permanent*: the input or the code is wrong, and trying again gives the same answer.

What each side does with it: a worker retries a transient failure with growing pauses for as long
as it runs and never spends a message's delivery budget on it; a permanent one is dead-lettered
with its reason (a message) or crashes the worker for the supervisor (anything else). Over HTTP a
transient failure is 503 with `Retry-After`, a permanent one 500.
"""

from dataclasses import dataclass

import asyncpg
import nats.errors
import nats.js.errors

__all__ = [
    "Permanent",
    "RetryLater",
    "Transient",
    "WaitingForAnother",
    "classify",
    "is_transient",
]


class RetryLater(Exception):
    """The handler cannot apply this yet (it needs an event not yet delivered): try it later."""


class WaitingForAnother(Exception):
    """The handler waits for another consumer to apply something first (the mastery projector's
    partitions wait for the tenant-wide durable to apply a standard the log already holds): the
    same batch is tried again in this process, in order, spending no delivery."""


@dataclass(frozen=True, slots=True)
class Transient:
    """Worth trying again unchanged; `dependency` names what was unavailable, for logs and 503s."""

    dependency: str


@dataclass(frozen=True, slots=True)
class Permanent:
    pass


POSTGRESQL = Transient("PostgreSQL")
NATS = Transient("NATS")
NETWORK = Transient("a server it depends on")
LATER = Transient("an event not yet delivered")
PERMANENT = Permanent()

# SQLSTATEs that mean "PostgreSQL is unavailable right now" or "this transaction lost a race":
# class 08 (connection exceptions) is matched by prefix.
_TRANSIENT_SQLSTATES = frozenset(
    {
        "57P01",  # admin_shutdown: the server is stopping, or pg_terminate_backend
        "57P02",  # crash_shutdown: another backend crashed, every session is reset
        "57P03",  # cannot_connect_now: starting up, shutting down, recovering
        "57P05",  # idle_session_timeout
        "53300",  # too_many_connections
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
    }
)
# 57P04 (database_dropped) is not among them: that database will not come back by waiting.

# asyncpg's own errors are a connection lost or going ("pool is closed", "connection is closed",
# and InternalClientError's "cannot switch to state 11; another operation (2) is in progress" on
# a pooled connection taking in the server's FATAL), a standby where a primary was asked for
# (failover), or a statement cache a migration outdated; except these, the caller's mistakes.
_PERMANENT_INTERFACE_ERRORS = (
    asyncpg.exceptions._base.DataError,  # an argument the codec refuses
    asyncpg.exceptions.ClientConfigurationError,
    asyncpg.exceptions.UnsupportedClientFeatureError,
    asyncpg.exceptions.UnsupportedServerFeatureError,
)

_TRANSIENT_NATS_ERRORS = (
    nats.errors.TimeoutError,  # also flush, drain and fetch timeouts
    nats.errors.NoRespondersError,  # JetStream not (yet) answering on its API subject
    nats.errors.NoServersError,
    nats.errors.StaleConnectionError,  # also UnexpectedEOF
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.SlowConsumerError,
    nats.js.errors.ServiceUnavailableError,  # 503: JetStream not ready, no stream leader yet
    nats.js.errors.NoStreamResponseError,
)


def classify(error: BaseException) -> Transient | Permanent:
    """Whether trying again unchanged can succeed, and what was unavailable if so.

    An error raised from another (`raise ... from cause`) is transient when its cause is; a group
    is transient when every error in it is.
    """
    if isinstance(error, BaseExceptionGroup):
        kinds = [classify(inner) for inner in error.exceptions]
        transient = [kind for kind in kinds if isinstance(kind, Transient)]
        return transient[0] if transient and len(transient) == len(kinds) else PERMANENT
    kind = _classify_one(error)
    if isinstance(kind, Permanent) and error.__cause__ is not None:
        return classify(error.__cause__)
    return kind


def is_transient(error: BaseException) -> bool:
    return isinstance(classify(error), Transient)


def _classify_one(error: BaseException) -> Transient | Permanent:
    if isinstance(error, RetryLater | WaitingForAnother):
        return LATER
    if isinstance(error, asyncpg.PostgresError):
        sqlstate = str(getattr(error, "sqlstate", "") or "")
        transient = sqlstate.startswith("08") or sqlstate in _TRANSIENT_SQLSTATES
        return POSTGRESQL if transient else PERMANENT
    if isinstance(error, (asyncpg.InterfaceError, asyncpg.exceptions.InternalClientError)):
        return PERMANENT if isinstance(error, _PERMANENT_INTERFACE_ERRORS) else POSTGRESQL
    if isinstance(error, _TRANSIENT_NATS_ERRORS):
        return NATS
    if isinstance(error, (OSError, TimeoutError)):
        # Refused or reset connections, unreachable hosts, name resolution, any timeout.
        return NETWORK
    return PERMANENT
