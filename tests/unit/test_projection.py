"""The projection fold: one pure function over batches of any gradebook event.

Changes are emitted when mastery moves, late evidence and corrections are folded from the
history, policies recalculate everyone on a standard, and whatever the events and however they
are batched or redelivered, the fold equals a recompute from the evidence.
"""

from collections import defaultdict
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from services.mastery.core.calculation import CalculationPolicy
from services.mastery.core.evidence import (
    StreamEvent,
    evidence_of_attempt,
    evidence_of_stream,
)
from services.mastery.core.plan import GradebookEntry, NotYetApplicable, Plan
from services.mastery.core.projection import key_of, resolved_policy
from services.mastery.core.student_standard import (
    NeedsHistory,
    StudentStandardKey,
    empty_state,
    fold_attempt,
    state_of_records,
)
from shared.contract.events.attempts import AttemptRecorded, AttemptRescored, AttemptVoided
from shared.contract.events.mastery import MasteryChanged, ReassessmentOutlook
from shared.contract.events.standards import ReassessmentPolicy, StandardDefined, TenantPolicySet
from shared.contract.grading import METHODS, LetterGrade
from tests.support.gradebook import NOW, TENANT, Gradebook
from tests.support.memory_read_model import MemoryReadModel

POLICY = CalculationPolicy()


def _project(model: MemoryReadModel, *entries: GradebookEntry) -> Plan | NotYetApplicable:
    return model.handle(entries, default_policy=POLICY, now=NOW)


def _moves(model: MemoryReadModel) -> list[tuple[float | None, float | None, bool]]:
    return [(c.previous_level, c.level, c.mastered) for c in model.changes]


def test_a_change_is_emitted_only_when_level_or_mastery_moves() -> None:
    book = Gradebook()
    model = MemoryReadModel(log=book.entries)
    _project(model, book.attempt("maya", 2, 1))
    _project(model, book.attempt("maya", 3, 2))
    _project(model, book.attempt("maya", 3.5, 3))  # 3.5 is still level 3
    assert _moves(model) == [(None, 2, False), (2, 3, True)]
    [state] = model.states.values()
    assert (state.standing.score, state.evidence_count) == (3.5, 3)
    assert model.loads == [1, 1, 1]  # newest evidence: folded on the tally, no history read


def test_a_change_names_its_standard_and_the_standing_before_it() -> None:
    book = Gradebook()
    model = MemoryReadModel(log=book.entries)
    _project(model, book.attempt("maya", 2, 1, standard="never.defined"))
    guid = "9f3a1c52-1e0b-4b7e-a1f4-2c6d8e0b5a17"
    _project(model, book.define("math.1", "latest", title="Ratios", case_guid=guid))
    _project(model, book.attempt("maya", 2, 2))  # the definition comes from the read model
    _project(model, book.attempt("maya", 4, 3))
    _project(model, book.define("math.1", "latest", title="Ratios and rates", case_guid=guid))
    _project(model, book.attempt("maya", 1, 4))
    context = [
        (c.standard_title, c.case_guid, c.previous_score, c.previous_level_label, c.score)
        for c in model.changes
    ]
    assert context == [
        (None, None, None, None, 2),  # a standard never defined has no title
        ("Ratios", guid, None, None, 2),
        ("Ratios", guid, 2, "Developing", 4),
        ("Ratios and rates", guid, 4, "Advanced", 1),
    ]


def test_a_change_tells_the_reassessments_its_standard_leaves_open() -> None:
    book = Gradebook()
    model = MemoryReadModel(log=book.entries)
    _project(model, book.attempt("maya", 1, 1, standard="never.defined"))
    rules = ReassessmentPolicy(max_reassessments=3, corrective_work_required=True)
    _project(model, book.define("math.1", "latest", reassessment=rules))
    first = book.attempt("maya", 1, 1)
    _project(model, first)
    _project(model, book.attempt("maya", 2, 2))
    _project(model, book.attempt("maya", None, 3))  # missing work is no reassessment
    _project(model, book.attempt("maya", 3, 4))
    assert isinstance(first.event, AttemptRecorded)
    _project(model, book.void(first.event))  # a voided attempt no longer counts
    _project(model, book.attempt("maya", 1, 5))
    outlooks = [
        (c.level, None if c.reassessment is None else c.reassessment.reassessments_used)
        for c in model.changes
    ]
    # 4 scored and 1 voided: 3 count, so 2 reassessments used of 3.
    assert outlooks == [(1, None), (1, 0), (2, 1), (3, 2), (1, 2)]
    assert {c.reassessment for c in model.changes[1:]} == {
        ReassessmentOutlook(
            reassessments_used=n, max_reassessments=3, corrective_work_required=True
        )
        for n in (0, 1, 2)
    }


def test_late_evidence_is_folded_from_the_history_and_does_not_become_latest() -> None:
    book = Gradebook()
    model = MemoryReadModel(log=book.entries)
    _project(model, book.attempt("maya", 4, 20))
    _project(model, book.attempt("maya", 1, 2))
    [state] = model.states.values()
    assert (state.standing.score, state.evidence_count) == (4, 2)
    assert _moves(model) == [(None, 4, True)]
    assert model.loads == [1, 2]  # the second asked for the history


def test_a_redelivered_batch_changes_nothing_and_emits_nothing() -> None:
    book = Gradebook()
    model = MemoryReadModel(log=book.entries)
    batch = (book.attempt("maya", 2, 1), book.attempt("maya", 3, 2))
    _project(model, *batch)
    before, changes = dict(model.states), list(model.changes)
    plan = _project(model, *batch)
    assert isinstance(plan, Plan)
    assert plan.evidence == ()
    assert plan.changes == ()
    assert model.states == before
    assert model.changes == changes


def test_change_ids_derive_from_the_causing_event() -> None:
    book = Gradebook()
    entry = book.attempt("maya", 3, 1)
    first, second = MemoryReadModel(log=book.entries), MemoryReadModel(log=book.entries)
    _project(first, entry)
    _project(second, entry)
    assert [c.change_id for c in first.changes] == [c.change_id for c in second.changes]
    assert first.changes[0].caused_by_event_id == entry.event_id


def test_a_void_delivered_before_its_attempt_is_applied_after_it_from_the_log() -> None:
    book = Gradebook()
    model = MemoryReadModel(log=book.entries)
    attempt = book.attempt("maya", 3, 1)
    assert isinstance(attempt.event, AttemptRecorded)
    void = book.void(attempt.event)
    _project(model, void)  # the attempt's own message is late: the log has it
    [state] = model.states.values()
    assert (state.evidence_count, state.last_version) == (0, 2)
    assert [(c.reason, c.level) for c in model.changes] == [("evidence", 3), ("correction", None)]
    _project(model, attempt)  # the late message: already applied, by version
    assert model.states == {state.key: state}
    assert len(model.changes) == 2


def test_a_lost_message_is_read_from_the_log_and_changes_come_in_stream_order() -> None:
    book = Gradebook()
    model = MemoryReadModel(log=book.entries)
    book.attempt("maya", 4, 1)
    book.attempt("maya", 1, 2)
    last = book.attempt("maya", 4, 3)
    _project(model, last)  # versions 1 and 2 were never delivered
    assert [(c.previous_level, c.level) for c in model.changes] == [(None, 4), (4, 1), (1, 4)]


def test_an_event_that_is_not_in_the_log_is_never_applied() -> None:
    book = Gradebook()
    model = MemoryReadModel(log=book.entries)
    _project(model, book.attempt("maya", 2, 1))
    forged = Gradebook().attempt("maya", 4, 2)  # a message nobody recorded, version 1 of its own
    forged = msgspec.structs.replace(forged, stream_version=2)
    _project(model, forged)
    [state] = model.states.values()
    assert (state.standing.score, state.evidence_count) == (2, 1)
    standard = Gradebook().define("math.1", "highest")
    _project(model, standard)
    assert model.policies == {}
    assert len(model.changes) == 1


def test_a_void_and_a_rescore_recalculate_and_name_the_correction() -> None:
    book = Gradebook()
    model = MemoryReadModel(log=book.entries)
    first, second = book.attempt("maya", 2, 1), book.attempt("maya", 4, 2)
    _project(model, first, second)
    assert isinstance(second.event, AttemptRecorded)
    assert isinstance(first.event, AttemptRecorded)
    _project(model, book.void(second.event))
    _project(model, book.rescore(first.event, 3))
    [state] = model.states.values()
    assert (state.standing.score, state.evidence_count) == (3, 1)
    assert [(c.reason, c.previous_level, c.level) for c in model.changes] == [
        ("evidence", None, 2), ("evidence", 2, 4), ("correction", 4, 2), ("correction", 2, 3),
    ]  # fmt: skip


def test_an_older_rescore_redelivered_after_a_newer_one_changes_nothing() -> None:
    book = Gradebook()
    model = MemoryReadModel(log=book.entries)
    attempt = book.attempt("maya", 2, 1)
    assert isinstance(attempt.event, AttemptRecorded)
    older, newer = book.rescore(attempt.event, 3), book.rescore(attempt.event, 4)
    _project(model, attempt, older, newer)
    _project(model, older)
    [state] = model.states.values()
    assert state.standing.score == 4


def test_a_changed_policy_recalculates_every_student_on_the_standard() -> None:
    book = Gradebook()
    model = MemoryReadModel(log=book.entries)
    _project(model, book.define("math.1", "latest"))
    _project(model, book.attempt("ana", 4, 1), book.attempt("ana", 2, 2))
    _project(model, book.attempt("ben", 2, 1), book.attempt("ben", 2, 2))
    model.changes.clear()
    _project(model, book.define("math.1", "highest"))
    scores = {key.student_id: state.standing.score for key, state in model.states.items()}
    assert scores == {"ana": 4, "ben": 2}
    assert [(c.student_id, c.reason, c.level, c.caused_by_attempt_id) for c in model.changes] == [
        ("ana", "policy", 4, "attempt-3"),
    ]


def test_a_tenant_default_moves_only_the_standards_that_follow_it() -> None:
    book = Gradebook()
    model = MemoryReadModel(log=book.entries)
    _project(model, book.define("math.1", None), book.define("math.2", "latest"))
    for standard in ("math.1", "math.2"):
        _project(model, book.attempt("ana", 4, 1, standard=standard))
        _project(model, book.attempt("ana", 1, 2, standard=standard))
    _project(model, book.tenant_default("highest"))
    scores = {key.standard_id: state.standing.score for key, state in model.states.items()}
    assert scores == {"math.1": 4, "math.2": 1}
    assert model.policies[(TENANT, "math.1")].method == "highest"


def test_tenant_letters_reach_every_standard_without_letters_of_its_own() -> None:
    book = Gradebook()
    model = MemoryReadModel(log=book.entries)
    own = (LetterGrade(letter="X", min_position=0),)
    _project(model, book.define("math.1", None), book.define("math.2", "latest"))
    _project(model, book.define("math.3", "latest", letters=own))
    _project(model, book.attempt("ana", 3, 1, standard="math.2"))
    pass_fail = (LetterGrade(letter="P", min_score=3), LetterGrade(letter="N", min_score=1))
    _project(model, book.tenant_default("latest", letters=pass_fail))
    letters = {ref[1]: policy.letters for ref, policy in model.policies.items()}
    assert letters == {"math.1": pass_fail, "math.2": pass_fail, "math.3": own}
    [state] = model.states.values()  # recalculated under the letters it takes now
    assert state.policy.letters == pass_fail


def test_fold_attempt_needs_the_history_under_another_policy() -> None:
    key = StudentStandardKey(tenant_id=TENANT, student_id="maya", standard_id="math.1")
    state = empty_state(key, POLICY)
    attempt = Gradebook().attempt("maya", 3, 1).event
    assert isinstance(attempt, AttemptRecorded)
    evidence = evidence_of_attempt(attempt, 1)
    assert isinstance(
        fold_attempt(state, evidence, CalculationPolicy(method="highest")), NeedsHistory
    )


def test_the_state_stays_the_same_size_as_history_grows() -> None:
    book = Gradebook()
    model = MemoryReadModel(log=book.entries)
    for n in range(1, 201):
        _project(model, book.attempt("maya", 1 + n % 4, n))
        if n == 10:
            size_at_10 = len(msgspec.json.encode(next(iter(model.states.values()))))
    size_at_200 = len(msgspec.json.encode(next(iter(model.states.values()))))
    assert size_at_200 <= size_at_10 + 40  # digits of the counters grow, nothing else


# An operation of the generated gradebook: what happens next, in the order the log holds it.
operations = st.one_of(
    st.tuples(
        st.just("attempt"), st.sampled_from(["ana", "ben"]), st.sampled_from(["s1", "s2"]),
        st.one_of(st.none(), st.integers(2, 8).map(lambda n: n / 2)), st.integers(0, 20),
    ),
    st.tuples(st.just("void"), st.integers(0, 50)),
    st.tuples(st.just("rescore"), st.integers(0, 50), st.integers(2, 8).map(lambda n: n / 2)),
    st.tuples(st.just("define"), st.sampled_from(["s1", "s2"]), st.sampled_from([None, *METHODS])),
    st.tuples(st.just("tenant"), st.sampled_from(METHODS)),
    st.tuples(st.just("redeliver"), st.integers(0, 50)),
)  # fmt: skip


_STUDENT_EVENTS = (AttemptRecorded, AttemptVoided, AttemptRescored)


def _log(ops: list[tuple[Any, ...]]) -> tuple[Gradebook, list[GradebookEntry]]:
    """The log the operations write, and the deliveries (the log plus redeliveries)."""
    book, attempts, deliveries = Gradebook(), list[AttemptRecorded](), list[GradebookEntry]()
    for op in ops:
        if op[0] == "attempt":
            entry = book.attempt(str(op[1]), op[3], int(op[4]), standard=str(op[2]))
            assert isinstance(entry.event, AttemptRecorded)
            attempts.append(entry.event)
        elif op[0] in ("void", "rescore") and attempts:
            target = attempts[int(op[1]) % len(attempts)]
            entry = book.void(target) if op[0] == "void" else book.rescore(target, op[2])
        elif op[0] == "define":
            entry = book.define(str(op[1]), op[2])
        elif op[0] == "tenant":
            entry = book.tenant_default(op[1])
        elif op[0] == "redeliver" and deliveries:
            candidates = [
                e
                for e in deliveries
                if isinstance(e.event, AttemptRecorded | AttemptVoided | AttemptRescored)
            ]
            if not candidates:
                continue
            deliveries.append(candidates[int(op[1]) % len(candidates)])
            continue
        else:
            continue
        deliveries.append(entry)
    return book, deliveries


def _expected_states(book: Gradebook) -> dict[StudentStandardKey, object]:
    streams: dict[StudentStandardKey, list[StreamEvent]] = defaultdict(list)
    definitions: dict[str, StandardDefined] = {}
    tenant_default: TenantPolicySet | None = None
    for entry in book.entries:
        event = entry.event
        if isinstance(event, StandardDefined):
            definitions[event.standard_id] = event
        elif isinstance(event, TenantPolicySet):
            tenant_default = event
        elif isinstance(event, AttemptRecorded | AttemptVoided | AttemptRescored):
            streams[key_of(event)].append((entry.stream_version, entry.event_id, event))
    expected: dict[StudentStandardKey, object] = {}
    for key, stream in streams.items():
        definition = definitions.get(key.standard_id)
        policy = resolved_policy(definition, tenant_default) if definition else POLICY
        records = evidence_of_stream(stream)
        expected[key] = state_of_records(key, records.values(), policy=policy)
    return expected


@settings(max_examples=300, deadline=None)
@given(st.lists(operations, min_size=1, max_size=40), st.lists(st.integers(1, 6), min_size=1))
def test_any_events_in_any_batches_fold_to_the_recompute_from_the_evidence(
    ops: list[tuple[Any, ...]], batch_sizes: list[int]
) -> None:
    book, deliveries = _log(ops)
    model = MemoryReadModel(log=book.entries)
    start, sizes = 0, iter(batch_sizes * (len(deliveries) + 1))
    while start < len(deliveries):
        size = next(sizes)
        outcome = _project(model, *deliveries[start : start + size])
        assert isinstance(outcome, Plan), outcome  # corrections never precede their attempt here
        start += size
    assert model.states == _expected_states(book)
    by_key: dict[tuple[str, str], list[tuple[float | None, bool, float | None, bool]]] = (
        defaultdict(list)
    )
    for change in model.changes:
        by_key[(change.student_id, change.standard_id)].append(
            (change.previous_level, change.previous_mastered, change.level, change.mastered)
        )
    for key, state in model.states.items():
        chain = by_key[(key.student_id, key.standard_id)]
        level, mastered = None, False  # mastery as families last heard of it
        for previous_level, previous_mastered, new_level, new_mastered in chain:
            assert (previous_level, previous_mastered) == (level, mastered)
            assert (new_level, new_mastered) != (level, mastered)
            level, mastered = new_level, new_mastered
        assert (level, mastered) == (state.standing.level, state.standing.mastered)


def test_a_state_stored_before_it_kept_its_version_is_recalculated_from_its_stream() -> None:
    book = Gradebook()
    model = MemoryReadModel(log=book.entries)
    first = book.attempt("maya", 2, 1)
    _project(model, first)
    [key] = model.states
    model.states[key] = msgspec.structs.replace(model.states[key], last_version=None)
    _project(model, first)  # a redelivery: the whole stream is read, nothing counted twice
    assert (model.states[key].evidence_count, model.states[key].last_version) == (1, 1)
    _project(model, book.attempt("maya", 3, 2))
    assert model.states[key].evidence_count == 2
    assert model.loads[-2:] == [1, 1]


def test_attempts_newer_than_the_state_are_folded_without_looking_them_up() -> None:
    book = Gradebook()
    model = MemoryReadModel(log=book.entries)
    _project(model, book.attempt("maya", 2, 1), book.attempt("maya", 3, 2))
    _project(model, book.attempt("maya", 4, 3), book.attempt("maya", 1, 4))
    assert model.loads == [1, 1]
    assert next(iter(model.states.values())).last_version == 4


student_operations = st.one_of(
    st.tuples(
        st.just("attempt"), st.sampled_from(["ana", "ben"]), st.sampled_from(["s1", "s2"]),
        st.one_of(st.none(), st.integers(2, 8).map(lambda n: n / 2)), st.integers(0, 20),
    ),
    st.tuples(st.just("void"), st.integers(0, 50)),
    st.tuples(st.just("rescore"), st.integers(0, 50), st.integers(2, 8).map(lambda n: n / 2)),
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    st.lists(student_operations, min_size=1, max_size=30),
    st.data(),
    st.lists(st.integers(1, 6), min_size=1),
)
def test_any_delivery_order_losses_and_duplicates_emit_what_an_in_order_replay_emits(
    ops: list[tuple[Any, ...]], data: st.DataObject, batch_sizes: list[int]
) -> None:
    book, _ = _log(ops)
    in_order = MemoryReadModel(log=book.entries)
    for entry in book.entries:
        _project(in_order, entry)
    delivered = (
        data.draw(st.lists(st.sampled_from(book.entries), max_size=40)) if book.entries else []
    )
    last_of_each = {
        key_of(e.event): e for e in book.entries if isinstance(e.event, _STUDENT_EVENTS)
    }
    deliveries = [*delivered, *last_of_each.values()]  # whatever came, the last doorbells ring
    model = MemoryReadModel(log=book.entries)
    start, sizes = 0, iter(batch_sizes * (len(deliveries) + 1))
    while start < len(deliveries):
        size = next(sizes)
        assert isinstance(_project(model, *deliveries[start : start + size]), Plan)
        start += size
    assert model.states == in_order.states

    def by_key(changes: list[MasteryChanged]) -> dict[tuple[str, str], list[MasteryChanged]]:
        grouped: dict[tuple[str, str], list[MasteryChanged]] = defaultdict(list)
        for change in changes:
            grouped[(change.student_id, change.standard_id)].append(change)
        return grouped

    assert by_key(model.changes) == by_key(in_order.changes)
