"""GCRA: a key's admitted requests never exceed its burst plus its rate over any stretch."""

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.platform.gcra import Policy, decide, remaining, whole_seconds
from shared.platform.rate_stores import SWEEP_AT, MemoryRateStore

POLICY = Policy(limit=10, window=1.0, burst=3)  # one every 0.1 s, three at once


def _admitted(policy: Policy, moments: list[float]) -> list[float]:
    tat: float | None = None
    admitted = []
    for now in moments:
        decision, new_tat = decide(policy, tat, now)
        if decision.allowed:
            admitted.append(now)
            tat = new_tat
    return admitted


@settings(max_examples=200)
@given(st.lists(st.floats(min_value=0, max_value=5), max_size=200))
def test_no_stretch_admits_more_than_the_burst_plus_the_rate(offsets: list[float]) -> None:
    admitted = _admitted(POLICY, sorted(offsets))
    for i, start in enumerate(admitted):
        for j in range(i, len(admitted)):
            span = admitted[j] - start
            assert j - i + 1 <= POLICY.burst + span / POLICY.interval + 1e-6


def test_a_steady_key_at_its_rate_is_always_admitted() -> None:
    moments = [n * POLICY.interval for n in range(100)]
    assert _admitted(POLICY, moments) == moments


def test_a_burst_is_refused_after_its_size_with_the_wait_until_the_next_interval() -> None:
    tat = None
    decisions = []
    for _ in range(POLICY.burst + 1):
        decision, new_tat = decide(POLICY, tat, 10.0)
        tat = new_tat or tat
        decisions.append(decision)
    assert [d.allowed for d in decisions] == [True] * POLICY.burst + [False]
    assert [remaining(POLICY, d) for d in decisions[:-1]] == [2, 1, 0]
    assert abs(decisions[-1].wait - POLICY.interval) < 1e-9
    assert whole_seconds(decisions[-1].wait) == 1


async def test_the_memory_store_forgets_keys_whose_bucket_is_full_again() -> None:
    now = [0.0]
    store = MemoryRateStore(POLICY, clock=lambda: now[0])
    for key in range(SWEEP_AT - 1):
        assert (await store.take(f"k{key}")).allowed
    now[0] = 10.0
    await store.take("late")
    assert list(store._tats) == ["late"]
