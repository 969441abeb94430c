"""Which projector instance applies which partition of the attempts.

Every live instance computes the same answer from the same inputs, the slots and the members
PostgreSQL reports: slot `s` belongs to the member whose rank among the `m` sorted members is
`s mod m`. Slots `0 .. partitions-1` are the partitions of the students' events; slot
`partitions` is the tenant-wide durable (standards, policies, attempts sent before partitioning).
An assignment only says who should own a slot: an instance consumes a slot once it holds the
slot's lock (services/mastery/adapters/ownership.py), so two answers computed from members
that changed in between never make two consumers of one slot.
"""

from collections.abc import Collection


def slot_count(partitions: int) -> int:
    """The partitions and the tenant-wide durable."""
    return partitions + 1


def tenant_wide_slot(partitions: int) -> int:
    return partitions


def owned_slots(slots: int, members: Collection[int], me: int) -> frozenset[int]:
    """The slots `me` should own among `members` (an instance not among them owns none)."""
    ranked = sorted(set(members))
    if me not in ranked:
        return frozenset()
    rank = ranked.index(me)
    return frozenset(slot for slot in range(slots) if slot % len(ranked) == rank)


def slot_name(slot: int, partitions: int) -> str:
    """`p3`, or `tenant-wide` for the last slot (a label in logs and metrics)."""
    return "tenant-wide" if slot == tenant_wide_slot(partitions) else f"p{slot}"
