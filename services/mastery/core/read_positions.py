"""How far a read model has got in the attempt log, from one look at the log. Pure.

The rules, and why they hold, are in docs/architecture.md ("Reading your writes").
"""

from collections.abc import Sequence

import msgspec


class LoggedEvent(msgspec.Struct, frozen=True, array_like=True):
    """One event of a tenant's log after its stored watermark, as one snapshot saw it."""

    position: int
    # No transaction that took a smaller position can still commit.
    settled: bool
    # The read model reflects it (its stream's state has its version).
    applied: bool


class Progress(msgspec.Struct, frozen=True, kw_only=True):
    """The watermark W (every event of the tenant at or below it is applied), and whether the
    position asked for is reached."""

    watermark: int
    reached: bool


def progress_of(stored: int, events: Sequence[LoggedEvent], wanted: int | None) -> Progress:
    """Walk the events after the stored watermark, in position order, to the first not applied.

    W moves to the last event walked that is settled. `wanted` is reached when it is at or below
    W, or when the tenant's event at `wanted` is visible and it and every event of the tenant
    before it are applied: every write acknowledged before the look is visible to it, and one
    still in progress has been acknowledged to no one.
    """
    watermark, reached = stored, False
    for event in events:
        if not event.applied:
            break
        if event.settled:
            watermark = event.position
        reached = reached or event.position == wanted
    return Progress(watermark=watermark, reached=reached or (wanted or 0) <= watermark)
