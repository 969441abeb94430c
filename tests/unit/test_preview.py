"""The policy preview's pure core: the comparison, its counts and the proposal's checks."""

from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.mastery.core.calculation import CalculationPolicy, Evidence
from services.mastery.core.preview import Proposal, ProposalRefused, preview, proposed_policy
from shared.contract.events.standards import StandardDefined, TenantPolicySet
from shared.contract.grading import DEFAULT_SCALE

START = datetime(2026, 10, 1, tzinfo=UTC)
STANDARD = StandardDefined(tenant_id="t", standard_id="s", title="s", scale=DEFAULT_SCALE,
                           method="latest", defined_at=START)  # fmt: skip


def _scores(*scores: float) -> list[Evidence]:
    return [Evidence(attempt_id=f"a{n}", assessed_at=START + timedelta(days=n), recorded_seq=n,
                     score=score) for n, score in enumerate(scores)]  # fmt: skip


def test_the_counts_of_a_hand_worked_case() -> None:
    evidence = {"s1": _scores(4, 2), "s2": _scores(2, 4), "s3": _scores(2, 1), "s4": _scores(1, 3)}
    result = preview(evidence, CalculationPolicy(), CalculationPolicy(method="average"))
    assert [s.effect for s in result.students] == ["gains", "keeps", "not_mastered", "loses"]
    counts = result.counts
    assert (counts.gain, counts.lose, counts.keep, counts.not_mastered) == (1, 1, 1, 1)
    assert counts.level_changes == 3


@given(st.dictionaries(st.text(min_size=1, max_size=3),
                       st.lists(st.integers(min_value=1, max_value=4), max_size=5)))  # fmt: skip
def test_the_same_policy_changes_no_one(scores: dict[str, list[int]]) -> None:
    evidence = {student: _scores(*values) for student, values in scores.items()}
    result = preview(evidence, CalculationPolicy(), CalculationPolicy())
    assert result.counts.gain == result.counts.lose == result.counts.level_changes == 0
    assert result.counts.students == len(scores)
    assert all(s.current == s.proposed for s in result.students)


def test_a_proposal_takes_the_defaults_a_definition_would() -> None:
    tenant = TenantPolicySet(tenant_id="t", method="highest", allowed_methods=("highest", "mode"),
                             set_at=START)  # fmt: skip
    policy = proposed_policy(STANDARD, tenant, Proposal(scale=DEFAULT_SCALE))
    assert policy.method == "highest"  # no method: the tenant's
    decaying = proposed_policy(
        STANDARD, None, Proposal(scale=DEFAULT_SCALE, method="decaying_average")
    )
    assert decaying.parameter == 65


@pytest.mark.parametrize(
    ("proposal", "field"),
    [
        (Proposal(scale=DEFAULT_SCALE, method="average"), "method"),  # not allowed
        (Proposal(scale=DEFAULT_SCALE, method="mode", parameter=3), "parameter"),
        (Proposal(scale=msgspec.structs.replace(DEFAULT_SCALE, minimum=5)), "scale"),
    ],
)
def test_a_proposal_is_refused_as_the_definition_would_be(proposal: Proposal, field: str) -> None:
    tenant = TenantPolicySet(tenant_id="t", method="mode", allowed_methods=("mode",), set_at=START)
    with pytest.raises(ProposalRefused) as refused:
        proposed_policy(STANDARD, tenant, proposal)
    assert refused.value.field == field
