"""As of a time, from the log: the pure fold against a brute-force replay of random histories,
and as of now against the live projection.

The replay states the rule the plain way: keep the events recorded by T, take the last definition
of the standard and the last tenant policy among them, apply each attempt's later corrections,
calculate from scratch. Recorded times are drawn at random, out of log order as clocks can be, so
a correction can be in the log before T while its attempt is recorded after.
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from services.mastery.core.calculation import (
    FALLBACK_POLICY,
    METHODS,
    CalculationPolicy,
    Evidence,
    Proficiency,
    calculate,
    validate_policy,
)
from services.mastery.core.evidence import live
from services.mastery.core.plan import GradebookEntry, Plan
from services.mastery.core.student_standard import StudentStandardKey, state_of_records
from services.mastery.core.timeline import LoggedEvent, history_of, standings_as_of
from shared.contract.events.attempts import (
    AttemptRecorded,
    AttemptRescored,
    AttemptVoided,
    CorrectiveWorkRecorded,
)
from shared.contract.events.standards import StandardDefined, TenantPolicySet, effective_policy
from shared.contract.grading import DEFAULT_SCALE
from tests.support.memory_read_model import MemoryReadModel

TENANT = "school"
STUDENTS = ("maya", "noor")
STANDARDS = ("math.1", "math.2")
START = datetime(2026, 10, 1, tzinfo=UTC)
SCALES = (DEFAULT_SCALE, msgspec.structs.replace(DEFAULT_SCALE, mastery_threshold=2))

minutes = st.integers(min_value=0, max_value=120)
attempts = st.tuples(
    st.just("attempt"), st.sampled_from(STUDENTS), st.sampled_from(STANDARDS),
    st.sampled_from(["scored", "scored", "scored", "missing", "excused"]),
    st.integers(min_value=0, max_value=4), st.integers(min_value=0, max_value=20), minutes,
)  # fmt: skip
voids = st.tuples(st.just("void"), st.integers(min_value=0, max_value=50), minutes)
rescores = st.tuples(
    st.just("rescore"), st.integers(min_value=0, max_value=50),
    st.integers(min_value=0, max_value=4), minutes,
)  # fmt: skip
work = st.tuples(st.just("work"), st.sampled_from(STUDENTS), st.sampled_from(STANDARDS), minutes)
definitions = st.tuples(
    st.just("define"), st.sampled_from(STANDARDS), st.sampled_from((None, *METHODS)),
    st.sampled_from(range(len(SCALES))), minutes,
)  # fmt: skip
tenant_policies = st.tuples(st.just("tenant"), st.sampled_from(METHODS), minutes)
operations = st.lists(
    st.one_of(attempts, attempts, voids, rescores, work, definitions, tenant_policies),
    max_size=30,
)


class _Log:
    """Builds a log the way the attempts service appends it: positions, stream versions."""

    def __init__(self) -> None:
        self.events: list[LoggedEvent] = []
        self._versions: dict[str, int] = {}
        self._attempts: list[AttemptRecorded] = []

    def append(self, stream: str, event: Any, minute: int) -> None:
        self._versions[stream] = self._versions.get(stream, 0) + 1
        position = len(self.events) + 1
        self.events.append(
            LoggedEvent(
                position=position, stream_version=self._versions[stream],
                event_id=f"e{position}", recorded_at=START + timedelta(minutes=minute),
                event=event,
            )
        )  # fmt: skip

    def apply(self, operation: tuple[Any, ...]) -> None:
        kind, at = operation[0], START + timedelta(minutes=operation[-1])
        if kind == "attempt":
            _, student, standard, status, score, day, minute = operation
            recorded = AttemptRecorded(
                tenant_id=TENANT, student_id=student, standard_id=standard,
                attempt_id=f"a{len(self._attempts)}", status=status,
                score=score if status == "scored" else None,
                points_possible=4 if status == "scored" else None,
                assessed_at=START + timedelta(days=day), recorded_at=at,
            )  # fmt: skip
            self._attempts.append(recorded)
            self.append(f"{student}/{standard}", recorded, minute)
        elif kind in {"void", "rescore"} and self._attempts:
            target = self._attempts[operation[1] % len(self._attempts)]
            fields = {"tenant_id": TENANT, "student_id": target.student_id,
                      "standard_id": target.standard_id, "attempt_id": target.attempt_id,
                      "reason": "r"}  # fmt: skip
            correction: AttemptVoided | AttemptRescored = (
                AttemptVoided(**fields, voided_at=at)
                if kind == "void"
                else AttemptRescored(
                    **fields, score=operation[2], points_possible=4, rescored_at=at
                )
            )
            self.append(f"{target.student_id}/{target.standard_id}", correction, operation[-1])
        elif kind == "work":
            _, student, standard, minute = operation
            done = CorrectiveWorkRecorded(
                tenant_id=TENANT, student_id=student, standard_id=standard, work_id="w",
                recorded_at=at,
            )  # fmt: skip
            self.append(f"{student}/{standard}", done, minute)
        elif kind == "define":
            _, standard, method, scale, minute = operation
            defined = StandardDefined(
                tenant_id=TENANT, standard_id=standard, title=standard, scale=SCALES[scale],
                method=method, defined_at=at,
            )  # fmt: skip
            self.append(f"//standards/{standard}", defined, minute)
        elif kind == "tenant":
            policy = TenantPolicySet(tenant_id=TENANT, method=operation[1],
                                     allowed_methods=METHODS, set_at=at)  # fmt: skip
            self.append("//policy", policy, operation[-1])


def _log_of(ops: list[tuple[Any, ...]]) -> list[LoggedEvent]:
    log = _Log()
    for operation in ops:
        log.apply(operation)
    return log.events


# The brute-force replay: every rule written out again, the plain way.


def _policy_then(seen: Sequence[LoggedEvent], standard_id: str) -> CalculationPolicy:
    defined = [e.event for e in seen if isinstance(e.event, StandardDefined)
               and e.event.standard_id == standard_id]  # fmt: skip
    tenant = [e.event for e in seen if isinstance(e.event, TenantPolicySet)]
    if not defined:
        return FALLBACK_POLICY
    return validate_policy(effective_policy(defined[-1], tenant[-1] if tenant else None))


def _mine(seen: Sequence[LoggedEvent], key: StudentStandardKey) -> list[LoggedEvent]:
    return [
        e for e in seen
        if not isinstance(e.event, StandardDefined | TenantPolicySet)
        and (e.event.student_id, e.event.standard_id) == (key.student_id, key.standard_id)
    ]  # fmt: skip


def _replay(seen: Sequence[LoggedEvent], key: StudentStandardKey) -> Proficiency:
    """The proficiency from scratch."""
    mine, evidence = _mine(seen, key), []
    for index, logged in enumerate(mine):
        attempt = logged.event
        if not isinstance(attempt, AttemptRecorded):
            continue
        later = [e.event for e in mine[index + 1 :]
                 if isinstance(e.event, AttemptVoided | AttemptRescored)
                 and e.event.attempt_id == attempt.attempt_id]  # fmt: skip
        if any(isinstance(correction, AttemptVoided) for correction in later):
            continue
        item = Evidence(attempt_id=attempt.attempt_id, assessed_at=attempt.assessed_at,
                        recorded_seq=logged.stream_version, status=attempt.status,
                        score=attempt.score, points_possible=attempt.points_possible)  # fmt: skip
        rescored = [c for c in later if isinstance(c, AttemptRescored)]
        if rescored:
            newest = rescored[-1]
            item = msgspec.structs.replace(
                item, status="scored", score=newest.score, points_possible=newest.points_possible
            )
        evidence.append(item)
    return calculate(evidence, _policy_then(seen, key.standard_id))


def _keys() -> list[StudentStandardKey]:
    return [
        StudentStandardKey(tenant_id=TENANT, student_id=student, standard_id=standard)
        for student in STUDENTS
        for standard in STANDARDS
    ]


@settings(max_examples=400, deadline=None)
@given(operations, st.integers(min_value=-1, max_value=121))
def test_as_of_equals_a_replay_from_scratch(ops: list[tuple[Any, ...]], minute: int) -> None:
    log = _log_of(ops)
    at = START + timedelta(minutes=minute)
    seen = [logged for logged in log if logged.recorded_at <= at]
    folded = {item.key: item for item in standings_as_of(log, at, FALLBACK_POLICY)}
    for key in _keys():
        if not any(isinstance(e.event, AttemptRecorded) for e in _mine(seen, key)):
            assert key not in folded  # no attempt on record yet: no standing, as in the read model
            continue
        standing = folded[key]
        assert standing.policy == _policy_then(seen, key.standard_id)
        assert calculate(live(standing.records), standing.policy) == _replay(seen, key)


@settings(max_examples=300, deadline=None)
@given(operations, st.integers(min_value=-1, max_value=121))
def test_history_is_the_replay_after_each_entry(ops: list[tuple[Any, ...]], minute: int) -> None:
    """Each entry is the as-of answer just after its event; a policy entry appears exactly where
    the policy in force changed after the stream began."""
    log = _log_of(ops)
    at = START + timedelta(minutes=minute)
    seen = [logged for logged in log if logged.recorded_at <= at]
    for key in _keys():
        steps = history_of(log, key, at, FALLBACK_POLICY)
        expected = _expected_entries(seen, key)
        assert [(s.logged.position, s.policy_change is not None) for s in steps] == expected
        for step in steps:
            prefix = [e for e in seen if e.position <= step.logged.position]
            policy = _policy_then(prefix, key.standard_id)
            assert step.policy == policy
            assert step.proficiency == _replay(prefix, key)
            if step.policy_change is not None:
                before = [e for e in seen if e.position < step.logged.position]
                assert step.policy_change.before == _policy_then(before, key.standard_id)
                assert step.policy_change.after == policy


def _expected_entries(
    seen: Sequence[LoggedEvent], key: StudentStandardKey
) -> list[tuple[int, bool]]:
    entries: list[tuple[int, bool]] = []
    for index, logged in enumerate(seen):
        if logged in _mine(seen, key):
            entries.append((logged.position, False))
        elif isinstance(logged.event, StandardDefined | TenantPolicySet) and entries:
            before = _policy_then(seen[:index], key.standard_id)
            if _policy_then(seen[: index + 1], key.standard_id) != before:
                entries.append((logged.position, True))
    return entries


@settings(max_examples=300, deadline=None)
@given(operations, st.lists(st.integers(min_value=1, max_value=6), min_size=1))
def test_as_of_now_is_what_the_live_projection_stores(
    ops: list[tuple[Any, ...]], batch_sizes: list[int]
) -> None:
    """The projection folds the log in batches onto stored states; the read API explains each
    from its state's policy and live evidence. As of now, the fold from the log says the same."""
    log = _log_of(ops)
    entries = [
        GradebookEntry(event=e.event, event_id=e.event_id, stream_version=e.stream_version)
        for e in log
    ]
    model, start, sizes = MemoryReadModel(log=entries), 0, iter(batch_sizes * (len(log) + 1))
    while start < len(entries):
        size = next(sizes)
        outcome = model.handle(entries[start : start + size], default_policy=FALLBACK_POLICY,
                               now=START)  # fmt: skip
        assert isinstance(outcome, Plan), outcome
        start += size
    then = standings_as_of(log, None, FALLBACK_POLICY)
    assert [item.key for item in then] == sorted(
        model.states, key=lambda k: (k.tenant_id, k.student_id, k.standard_id)
    )
    for item in then:
        state = model.states[item.key]
        assert item.policy == state.policy
        stored = live(model.evidence.get(item.key, {}))
        assert calculate(live(item.records), item.policy) == calculate(stored, state.policy)
        recalculated = state_of_records(item.key, item.records.values(), policy=item.policy)
        assert (recalculated.standing, recalculated.newest) == (state.standing, state.newest)
