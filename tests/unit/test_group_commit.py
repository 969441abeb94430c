"""Group commit: batches handed over while a group is applied are applied together next, and
each consumer still learns its own batch's outcome (shared/platform/group_commit.py)."""

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg
import pytest

from shared.contract.cloudevents import CloudEvent
from shared.platform.delivery import Delivered
from shared.platform.errors import RetryLater, is_transient
from shared.platform.group_commit import GroupAbandoned, GroupCommit

Batch = Sequence[Delivered[str]]


def batch(*names: str) -> list[Delivered[str]]:
    return [Delivered(event(name), number) for number, name in enumerate(names, start=1)]


def event(name: str) -> CloudEvent[str]:
    return CloudEvent(
        id=name,
        source="test",
        type="t",
        subject="s",
        time=datetime.now(UTC),
        tenantid="school-a",
        data=name,
    )


def names(items: Batch) -> list[str]:
    return [item.envelope.data for item in items]


class Handler:
    """Records each call's events; a call may be held open, and events named in `refused` fail
    the call they are in with `error`."""

    def __init__(
        self,
        error: Exception | None = None,
        refused: frozenset[str] = frozenset(),
        stuck: frozenset[str] = frozenset(),
    ) -> None:
        """A call holding an event named in `stuck` never returns by itself."""
        self.calls: list[list[str]] = []
        self.committed: list[str] = []
        self.release = asyncio.Event()
        self.release.set()
        self.entered = asyncio.Event()
        self._error = error
        self._refused = refused
        self._stuck = stuck

    async def __call__(self, items: Batch) -> None:
        self.calls.append(names(items))
        self.entered.set()
        await self.release.wait()
        if self._stuck & set(names(items)):
            await asyncio.Event().wait()
        if self._error is not None and self._refused & set(names(items)):
            raise self._error
        self.committed += names(items)


async def hold_first_call(handler: Handler, group: GroupCommit[str]) -> asyncio.Task[None]:
    """A first batch whose call stays open until `handler.release` is set."""
    handler.release.clear()
    first = asyncio.create_task(group.handle(batch("first")))
    await handler.entered.wait()
    return first


async def handed_over_during_first_call(
    handler: Handler, group: GroupCommit[str], *batches: list[Delivered[str]]
) -> list[asyncio.Task[None]]:
    """Each batch handed to `group` while a first call is held open; then the first call is let
    go and has returned. The batches' tasks, which go on from there."""
    first = await hold_first_call(handler, group)
    handed = [asyncio.create_task(group.handle(each)) for each in batches]
    await asyncio.sleep(0.01)
    assert handler.calls == [["first"]]  # none of them is applied while the call is open
    handler.release.set()
    await first
    return handed


async def test_a_batch_handed_to_an_idle_group_is_applied_at_once_and_alone() -> None:
    handler = Handler()
    group = GroupCommit(handler)
    await group.handle(batch("a", "b"))
    assert handler.calls == [["a", "b"]]
    assert group.groups == 0


async def test_batches_handed_over_during_a_call_are_applied_together_in_the_next() -> None:
    handler = Handler()
    group = GroupCommit(handler)
    waiting = await handed_over_during_first_call(
        handler, group, *(batch(f"p{n}") for n in range(3))
    )
    await asyncio.gather(*waiting)
    assert handler.calls == [["first"], ["p0", "p1", "p2"]]
    assert group.groups == 1


async def test_a_group_stops_growing_at_its_event_limit() -> None:
    handler = Handler()
    group = GroupCommit(handler, max_events=3)
    pairs = (batch(f"{n}a", f"{n}b") for n in range(3))
    await asyncio.gather(*await handed_over_during_first_call(handler, group, *pairs))
    assert handler.calls == [["first"], ["0a", "0b", "1a", "1b"], ["2a", "2b"]]


async def test_a_refused_event_fails_its_own_batch_and_the_others_commit() -> None:
    handler = Handler(ValueError("refused"), refused=frozenset({"bad"}))
    group = GroupCommit(handler)
    good, bad, later = await handed_over_during_first_call(
        handler, group, batch("good"), batch("bad"), batch("later")
    )
    await asyncio.gather(good, later)
    with pytest.raises(ValueError, match="refused"):
        await bad
    # The group failed, then each of its batches was applied on its own.
    assert handler.calls[1:] == [["good", "bad", "later"], ["good"], ["bad"], ["later"]]
    assert handler.committed == ["first", "good", "later"]


async def test_an_event_to_wait_for_is_waited_for_by_its_own_batch_only() -> None:
    handler = Handler(RetryLater("the standard is not applied yet"), refused=frozenset({"early"}))
    group = GroupCommit(handler)
    early, ready = await handed_over_during_first_call(
        handler, group, batch("early"), batch("ready")
    )
    await ready
    with pytest.raises(RetryLater):
        await early
    assert handler.committed == ["first", "ready"]


async def test_an_outage_fails_every_batch_of_the_group_without_trying_each_alone() -> None:
    outage = asyncpg.exceptions.CannotConnectNowError("the database system is starting up")
    handler = Handler(outage, refused=frozenset({"x", "y"}))
    group = GroupCommit(handler)
    waiting = await handed_over_during_first_call(handler, group, batch("x"), batch("y"))
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(outcome is outage for outcome in outcomes)
    assert handler.calls[1:] == [["x", "y"]]  # each consumer pauses and tries its batch again


async def test_a_batch_whose_consumer_stops_before_its_group_is_not_applied() -> None:
    handler = Handler()
    group = GroupCommit(handler)
    first = await hold_first_call(handler, group)
    gone = asyncio.create_task(group.handle(batch("gone")))
    kept = asyncio.create_task(group.handle(batch("kept")))
    await asyncio.sleep(0.01)
    gone.cancel()
    handler.release.set()
    await asyncio.gather(first, kept)
    assert handler.calls == [["first"], ["kept"]]


async def test_when_the_applier_stops_the_batches_of_its_group_are_tried_again() -> None:
    handler = Handler(stuck=frozenset({"a"}))
    group = GroupCommit(handler)
    a, b = await handed_over_during_first_call(handler, group, batch("a"), batch("b"))
    # "a" applies the group of a and b; stop it in the middle of the call.
    await asyncio.sleep(0.01)
    assert handler.calls[-1] == ["a", "b"]
    a.cancel()
    with pytest.raises(GroupAbandoned) as abandoned:
        await b
    assert is_transient(abandoned.value)  # its consumer tries the batch again
    assert handler.committed == ["first"]
