"""`mastery calc`: the CLI face of the pure core."""

import io
import json

import pytest

from services.cli import main
from services.mastery.adapters.calculator import run_calc


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_calc(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_json_output_has_score_level_mastered_and_steps() -> None:
    code, out, _ = _run(
        "--method", "decaying_average", "--scale-max", "100", "--json", "60", "75", "92"
    )
    assert code == 0
    result = json.loads(out)
    assert (result["score"], result["mastered"]) == (84.21, True)
    assert "0.35×69.75 + 0.65×92 = 84.21" in result["steps"]
    assert result["level"] == 2


def test_default_scale_and_threshold() -> None:
    _, out, _ = _run("--json", "2", "3")
    assert json.loads(out)["mastered"] is True
    _, out, _ = _run("--json", "--mastery-threshold", "3.5", "2", "3")
    assert json.loads(out)["mastered"] is False


def test_no_result_yet_is_null() -> None:
    _, out, _ = _run("--json", "--method", "n_mastery", "--param", "3", "3", "4")
    result = json.loads(out)
    assert (result["score"], result["level"], result["mastered"]) == (None, None, False)


def test_bad_parameter_is_a_clear_error_and_exit_2() -> None:
    code, out, err = _run("--method", "weighted_average", "--param", "0", "3")
    assert (code, out) == (2, "")
    assert "between 1 and 99" in err


def test_scores_beyond_float_arithmetic_are_an_error_not_a_crash() -> None:
    code, out, err = _run("1e26")
    assert (code, out) == (2, "")
    assert "score #1: Expected `float` <= 1000000.0" in err
    assert _run("--scale-max", "100", "1e308", "1e308")[0] == 2


@pytest.mark.parametrize(
    ("argv", "named"),
    [(["--scale-max", "1e300", "3"], "--scale-max"), (["nan"], "score #1"),
     (["--method", "decaying_average", "--param", "inf", "3"], "--param"),
     (["--mastery-threshold=-1e300", "3"], "--mastery-threshold"),
     (["--scale-max", "100", "50", "1e7"], "score #2")],
)  # fmt: skip
def test_every_input_is_bounded_and_named(argv: list[str], named: str) -> None:
    code, out, err = _run(*argv)
    assert (code, out) == (2, "")
    assert err.startswith(f"mastery calc: {named}: "), err


def test_mastery_command_dispatches_calc(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calc", "--json", "3"]) == 0
    assert json.loads(capsys.readouterr().out)["score"] == 3


def test_help_offers_every_method_and_each_parameter_range(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _run("--help")[0] == 0
    help_text = " ".join(capsys.readouterr().out.split())
    methods = "{latest,highest,average,decaying_average,weighted_average,n_mastery,power_law,mode}"
    assert methods in help_text
    assert "decaying_average 50-99 (default 65)" in help_text
    assert "n_mastery 1-10 (default 5)" in help_text
