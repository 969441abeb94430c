"""The projection fold: changes when mastery moves, late evidence replays, tally == recompute."""

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.mastery.core.calculation import (
    METHODS,
    CalculationPolicy,
    Evidence,
    calculate,
    percentage_scale,
)
from services.mastery.core.projection import (
    AttemptApplied,
    Evolved,
    NeedsHistory,
    StudentStandard,
    cause_of,
    evidence_of,
    evolve,
    key_of,
    replay,
    state_from_evidence,
)
from shared.contract.events.attempts import AttemptRecorded

NOW = datetime(2026, 10, 10, 12, 0, tzinfo=UTC)
POLICY = CalculationPolicy()


def _applied(event_id: str, score: float, day: int, version: int) -> AttemptApplied:
    return AttemptApplied(
        event=AttemptRecorded(
            tenant_id="school",
            student_id="maya",
            standard_id="math.1",
            attempt_id=f"attempt-{event_id}",
            score=score,
            points_possible=4,
            assessed_at=datetime(2026, 9, 1, tzinfo=UTC) + timedelta(days=day),
            recorded_at=NOW,
        ),
        event_id=event_id,
        stream_version=version,
        bus_sequence=version,
    )


def _folded(outcome: Evolved | NeedsHistory) -> Evolved:
    assert not isinstance(outcome, NeedsHistory), outcome
    return outcome


def test_fold_emits_a_change_only_when_level_or_mastery_moves() -> None:
    state, first = _folded(evolve(None, _applied("e1", 2, 1, 1), policy=POLICY, now=NOW))
    assert [(c.previous_level, c.level, c.mastered) for c in first] == [(None, 2, False)]
    state, second = _folded(evolve(state, _applied("e2", 3, 2, 2), policy=POLICY, now=NOW))
    assert [(c.previous_level, c.level, c.mastered) for c in second] == [(2, 3, True)]
    state, third = _folded(evolve(state, _applied("e3", 3.5, 3, 3), policy=POLICY, now=NOW))
    assert third == ()  # 3.5 is still level 3
    assert state.standing.score == 3.5
    assert state.evidence_count == 3


def test_late_arriving_older_evidence_needs_the_history_and_does_not_become_latest() -> None:
    newer, older = _applied("new", 4, 20, 1), _applied("old", 1, 2, 2)
    state, _ = _folded(evolve(None, newer, policy=POLICY, now=NOW))
    assert isinstance(evolve(state, older, policy=POLICY, now=NOW), NeedsHistory)
    history = [evidence_of(newer), evidence_of(older)]
    replayed, emitted = replay(
        key_of(older.event), history, before=state, cause=cause_of(older), policy=POLICY, now=NOW
    )
    assert replayed.standing.score == 4
    assert replayed.evidence_count == 2
    assert emitted == ()


def test_a_changed_policy_needs_the_history() -> None:
    state, _ = _folded(evolve(None, _applied("e1", 2, 1, 1), policy=POLICY, now=NOW))
    highest = CalculationPolicy(method="highest")
    assert isinstance(evolve(state, _applied("e2", 3, 2, 2), policy=highest, now=NOW), NeedsHistory)


def test_change_ids_are_stable_across_replays() -> None:
    _, once = _folded(evolve(None, _applied("e1", 3, 1, 1), policy=POLICY, now=NOW))
    _, twice = _folded(evolve(None, _applied("e1", 3, 1, 1), policy=POLICY, now=NOW))
    assert once[0].change_id == twice[0].change_id


def test_the_state_stays_the_same_size_as_history_grows() -> None:
    state: StudentStandard | None = None
    for n in range(1, 201):
        state, _ = _folded(
            evolve(state, _applied(f"e{n}", 1 + n % 4, n, n), policy=POLICY, now=NOW)
        )
        if n == 10:
            size_at_10 = len(repr(state))
    assert state is not None
    assert len(repr(state)) <= size_at_10 + 20  # digits of the counters grow, nothing else


arrivals = st.lists(
    st.tuples(st.integers(0, 400).map(lambda n: n / 100), st.integers(0, 30)),
    min_size=1,
    max_size=15,
)


@settings(max_examples=150)
@given(arrivals, st.sampled_from(METHODS))
def test_folding_in_any_arrival_order_equals_calculating_from_scratch(
    attempts: list[tuple[float, int]], method: str
) -> None:
    parameter = 2 if method == "n_mastery" else None
    policy = CalculationPolicy(method=method, parameter=parameter, scale=percentage_scale())  # type: ignore[arg-type]
    state: StudentStandard | None = None
    seen: list[Evidence] = []
    for n, (score, day) in enumerate(attempts, start=1):
        item = _applied(f"e{n}", score, day, n)
        seen.append(evidence_of(item))
        outcome = evolve(state, item, policy=policy, now=NOW)
        if isinstance(outcome, NeedsHistory):
            outcome = replay(
                key_of(item.event), seen, before=state, cause=cause_of(item), policy=policy, now=NOW
            )
        state = outcome[0]
    assert state is not None
    expected = calculate(seen, policy)
    assert state.standing.score == expected.score
    assert state.standing.mastered == expected.mastered
    from_scratch = state_from_evidence(state.key, seen, policy=policy)
    assert state.tally == from_scratch.tally
