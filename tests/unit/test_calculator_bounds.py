"""Every calculator input is bounded: whatever numbers come in, the answer is a result or a
refusal, never an exception from the arithmetic (which `POST /v1/calculate` would turn into 500)."""

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.mastery.adapters.calculator import CalculationIn, evaluate
from services.mastery.adapters.views import proficiency_view
from shared.contract.grading import METHODS, InvalidPolicy

EXTREMES = [0.0, 5e-324, 1e-300, 1.0, 4.0, 1e6, 1e7, 1e26, 1e300, 1.7e308]
numbers = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(EXTREMES)
score = st.fixed_dictionaries(
    {},
    optional={
        "score": numbers,
        "points_possible": numbers,
        "status": st.sampled_from(["scored", "missing", "excused", "incomplete"]),
    },
)
request = st.fixed_dictionaries(
    {"scores": st.lists(score, max_size=6)},
    optional={
        "method": st.sampled_from(METHODS),
        "parameter": numbers,
        "floor_percent": st.floats(0, 100),
        "scale": st.fixed_dictionaries(
            {"kind": st.sampled_from(["levels", "percentage", "points"])},
            optional={"mastery_threshold": numbers, "maximum": numbers},
        ),
    },
)


@settings(max_examples=3000, deadline=None)
@given(body=request)
def test_any_accepted_request_gives_a_result_or_a_policy_refusal(body: dict[str, object]) -> None:
    try:
        accepted = msgspec.convert(body, CalculationIn)
    except msgspec.ValidationError:
        return  # 422, naming the field
    try:
        msgspec.json.encode(proficiency_view(evaluate(accepted)))
    except InvalidPolicy:
        return  # 422 invalid-policy


def test_the_sums_that_once_overflowed_are_refused_where_they_enter() -> None:
    # Two scores of 1.7e308 made `math.fsum` raise ValueError ("-inf + inf"): a 500.
    body = {"method": "average", "scores": [{"score": 1.7e308}, {"score": 1.7e308}]}
    with pytest.raises(msgspec.ValidationError, match=r"<= 1000000.0 - at `\$.scores\[0\].score`"):
        msgspec.convert(body, CalculationIn)
