"""The assignment of partitions to projector instances: each slot once, evenly, the same answer
whoever computes it."""

import random

from hypothesis import given
from hypothesis import strategies as st

from services.mastery.core.partition_owners import owned_slots, slot_count, slot_name

members_of = st.sets(st.integers(min_value=1, max_value=2**31 - 1), min_size=1, max_size=12)
slots_of = st.integers(min_value=1, max_value=17)


@given(slots_of, members_of)
def test_every_slot_has_exactly_one_owner(slots: int, members: set[int]) -> None:
    owners = [owned_slots(slots, members, member) for member in members]
    assert sum(len(owned) for owned in owners) == slots
    assert frozenset().union(*owners) == frozenset(range(slots))


@given(slots_of, members_of)
def test_shares_differ_by_at_most_one(slots: int, members: set[int]) -> None:
    shares = [len(owned_slots(slots, members, member)) for member in members]
    assert max(shares) - min(shares) <= 1


@given(slots_of, members_of, st.randoms())
def test_stable_whoever_computes_it_in_whatever_order(
    slots: int, members: set[int], shuffle: random.Random
) -> None:
    """Every instance reads the members itself: the same set must give the same answer."""
    listed = sorted(members)
    shuffled = list(members)
    shuffle.shuffle(shuffled)
    for member in members:
        assert owned_slots(slots, listed, member) == owned_slots(slots, shuffled, member)


def test_a_stranger_owns_nothing() -> None:
    assert owned_slots(9, {10, 20}, 30) == frozenset()


def test_one_member_owns_everything() -> None:
    assert owned_slots(9, {42}, 42) == frozenset(range(9))


def test_two_then_three_members() -> None:
    assert owned_slots(9, {100, 200}, 100) == {0, 2, 4, 6, 8}
    assert owned_slots(9, {100, 200}, 200) == {1, 3, 5, 7}
    assert owned_slots(9, {100, 200, 300}, 300) == {2, 5, 8}


def test_slots_and_names() -> None:
    assert slot_count(8) == 9
    assert [slot_name(s, 2) for s in range(slot_count(2))] == ["p0", "p1", "tenant-wide"]
