"""How far a read model has got in the attempt log, from one look at the log. Pure.

The rules, and why they hold, are in docs/architecture.md ("Reading your writes"). In short: W
is a position such that every event of the tenant's log at or below it is applied. A position
below a visible one may belong to a transaction still in progress; the writer takes its
transaction id before its position, so a look that saw position P and then read the next
transaction id N knows that every position at or below P belongs to a transaction below N. A
later look in which every transaction below N has ended (its snapshot's oldest running id is at
least N) may pass P: below it, each position is visible or will never be.
"""

from collections.abc import Sequence

import msgspec


class Pending(msgspec.Struct, frozen=True, kw_only=True):
    """Every position at or below `position` was taken by a transaction below `horizon`."""

    position: int
    horizon: int


class LoggedEvent(msgspec.Struct, frozen=True, array_like=True):
    """An event of the tenant's log after the stored watermark, in position order."""

    position: int
    applied: bool  # the read model reflects it (its stream's state has its version)


class Look(msgspec.Struct, frozen=True, kw_only=True):
    """What one look saw: the stored watermark and claim, the snapshot's oldest running
    transaction, the next transaction id read after it, the tenant's newest visible position,
    and the events after the stored watermark (at most `walk_limit`)."""

    watermark: int
    pending: Pending | None
    oldest_running: int
    next_xid: int
    newest: int
    events: Sequence[LoggedEvent]
    walk_limit: int


class Progress(msgspec.Struct, frozen=True, kw_only=True):
    watermark: int
    reached: bool  # the position asked for is applied
    pending: Pending  # the claim to store for a later look


def progress_of(look: Look, wanted: int | None) -> Progress:
    """Where W can go, and whether `wanted` is reached: at or below W, or the tenant's event at
    `wanted` is visible and it and every event of the tenant before it are applied (every write
    acknowledged before the look is visible to it; one in progress was acknowledged to none)."""
    pending = look.pending
    proved = pending is not None and look.oldest_running >= pending.horizon
    bound = max(look.watermark, pending.position if pending and proved else 0)
    watermark, reached, walked = bound, False, look.watermark
    for event in look.events:
        if not event.applied:
            watermark = min(watermark, event.position - 1)
            break
        reached = reached or event.position == wanted
        walked = event.position
    else:
        if len(look.events) >= look.walk_limit:
            watermark = min(watermark, walked)  # the walk stopped short of what it proved
    if pending is None or proved:
        pending = Pending(position=look.newest, horizon=look.next_xid)
    reached = reached or (wanted or 0) <= watermark
    return Progress(watermark=max(watermark, look.watermark), reached=reached, pending=pending)
