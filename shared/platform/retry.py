"""Retrying an operation until it succeeds or the service is asked to stop.

Every background worker waits on something outside the process (NATS to accept a connection, a
stream to be declared, a database to answer, another relay to let go of its lock). They all wait
the same way: try, log why it failed, pause (longer each time, up to a ceiling), try again, and
give up quietly when the service stops. What is worth trying again is decided in one place,
`shared.platform.errors.classify`; anything else is raised to the caller.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from shared.platform.errors import is_transient

logger = logging.getLogger(__name__)

T = TypeVar("T")

Transient = tuple[type[BaseException], ...]


class NotYet(Exception):
    """The attempt's precondition does not hold yet (another relay leads); not an error.

    Logged at warning the first time in a row only: a standby waits by design, possibly for as
    long as the process lives.
    """


async def sleep_unless_stopped(stop: asyncio.Event, seconds: float) -> None:
    """Wait `seconds`, returning early when the service is asked to stop."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def retry_until_stopped(
    stop: asyncio.Event,
    attempt: Callable[[], Awaitable[T]],
    *,
    what: str,
    transient: Transient = (),
    delay: float = 0.2,
    max_delay: float = 5.0,
) -> T | None:
    """`attempt()`'s result, retrying on transient errors and `NotYet`; None once stopped.

    Transient is what `shared.platform.errors.classify` says it is; `transient` adds error types
    this caller also retries (such as a mail server's refusals). The pause starts at `delay` and
    doubles up to `max_delay`. `what` names the operation in the log and must hold no secret (see
    `shared.platform.config.redacted`); so must the errors.
    """
    pause = delay
    waited = False
    while not stop.is_set():
        try:
            return await attempt()
        except NotYet as not_yet:
            level = logging.DEBUG if waited else logging.WARNING
            logger.log(level, "%s: waiting (%s); trying again in %.1fs", what, not_yet, pause)
            waited = True
        except Exception as error:
            if not (is_transient(error) or isinstance(error, transient)):
                raise
            logger.warning("%s failed (%s); retrying in %.1fs", what, _reason(error), pause)
        await sleep_unless_stopped(stop, pause)
        pause = min(pause * 2, max_delay)
    return None


def _reason(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
