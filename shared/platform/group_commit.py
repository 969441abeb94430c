"""Several consumers' batches applied in one transaction: group commit.

An instance that consumes several durables of one stream (the mastery projector's partitions)
fetches each on its own. At a trickle each fetch brings an event or two, and applied one by one
each pays every statement a batch costs. `GroupCommit` joins them: a batch handed over while
another group is being applied waits for it, then every batch waiting is applied together, in
one call of the handler. No batch waits for company: one handed to an idle group is applied at
once, so it joins batches only when the handler is the bottleneck.

Each consumer still settles its own messages, on its own durable, by its batch's own outcome:

- the group applied: every batch in it is applied;
- the group failed on something worth trying again unchanged (PostgreSQL or NATS unavailable, a
  deadlock): each batch fails with it, and each consumer pauses and tries its batch again;
- any other failure (an event to wait for, one the handler refuses): each batch of the group is
  applied on its own, and fails or commits alone, as it would have without the group.

The handler must accept batches of several consumers at once: the projector's partitions hold
other students, and its locks keep concurrent transactions apart anyway.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from shared.platform.delivery import Delivered
from shared.platform.errors import RetryLater, WaitingForAnother, is_transient

EventT = TypeVar("EventT")
Handler = Callable[[Sequence[Delivered[EventT]]], Awaitable[None]]

# A group stops growing once it holds this many events (the batch that crosses it is in it).
MAX_GROUP_EVENTS = 1_000


class GroupAbandoned(ConnectionError):
    """The task applying a group was cancelled (its service is stopping) before the group's
    outcome was known: its transaction rolled back, so the batch is tried again."""


@dataclass(eq=False)
class _Waiting(Generic[EventT]):
    batch: Sequence[Delivered[EventT]]
    outcome: "asyncio.Future[None]" = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class GroupCommit(Generic[EventT]):
    """One handler shared by several consumers: `handle` is each consumer's handler."""

    def __init__(self, handle: Handler[EventT], *, max_events: int = MAX_GROUP_EVENTS) -> None:
        self._handle = handle
        self._max_events = max_events
        self._waiting: list[_Waiting[EventT]] = []
        self._applying = asyncio.Lock()
        self.groups = 0  # handler calls for more than one batch

    async def handle(self, batch: Sequence[Delivered[EventT]]) -> None:
        """Apply `batch`, with the batches waiting beside it; raise what its own outcome is."""
        mine = _Waiting(batch)
        self._waiting.append(mine)
        try:
            while not mine.outcome.done():
                async with self._applying:
                    if not mine.outcome.done():
                        await self._apply(self._next_group())
        finally:
            if mine in self._waiting:  # cancelled before its group was taken
                self._waiting.remove(mine)
            elif mine.outcome.done():
                mine.outcome.exception()  # retrieved, also when cancelled after it was set
        return mine.outcome.result()

    def _next_group(self) -> list[_Waiting[EventT]]:
        """The oldest waiting batches, up to `max_events` (at least one batch)."""
        group: list[_Waiting[EventT]] = []
        events = 0
        while self._waiting and (not group or events < self._max_events):
            waiting = self._waiting.pop(0)
            group.append(waiting)
            events += len(waiting.batch)
        return group

    async def _apply(self, group: list[_Waiting[EventT]]) -> None:
        try:
            await self._apply_group(group)
        finally:
            for waiting in group:
                if not waiting.outcome.done():
                    waiting.outcome.set_exception(GroupAbandoned("the group's applier stopped"))

    async def _apply_group(self, group: list[_Waiting[EventT]]) -> None:
        if len(group) == 1:
            await self._apply_alone(group[0])
            return
        self.groups += 1
        try:
            await self._handle([item for waiting in group for item in waiting.batch])
        except Exception as error:  # noqa: BLE001 - handed to each batch's consumer, or retried
            if is_transient(error) and not isinstance(error, RetryLater | WaitingForAnother):
                for waiting in group:
                    waiting.outcome.set_exception(error)
                return
            for waiting in group:
                await self._apply_alone(waiting)
            return
        for waiting in group:
            waiting.outcome.set_result(None)

    async def _apply_alone(self, waiting: _Waiting[EventT]) -> None:
        try:
            await self._handle(waiting.batch)
        except Exception as error:  # noqa: BLE001 - the batch's consumer decides what it means
            waiting.outcome.set_exception(error)
        else:
            waiting.outcome.set_result(None)
