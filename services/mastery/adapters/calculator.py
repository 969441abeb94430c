"""The stateless calculator: the same pure core over HTTP (`POST /v1/calculate`) and the CLI."""

import argparse
from datetime import UTC, datetime, timedelta
from decimal import InvalidOperation
from typing import Annotated, Literal, TextIO

import msgspec
from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from services.mastery.adapters.views import ProficiencyOut, proficiency_view
from services.mastery.core.calculation import (
    CALCULATION_METHODS,
    DEFAULT_SCALE,
    CalculationPolicy,
    Evidence,
    InvalidPolicy,
    Method,
    Proficiency,
    ProficiencyScale,
    percentage_scale,
    points_scale,
)
from services.mastery.core.explanation import explained
from shared.contract.grading import MAX_GRADE_MAGNITUDE
from shared.contract.timestamps import utc_instant
from shared.platform.auth import requires
from shared.platform.http import Problem

_START = datetime(2000, 1, 1, tzinfo=UTC)
_encoder = msgspec.json.Encoder()


# Every number is bounded as the attempts service bounds it, so no input can overflow the
# calculation (a scale maximum of 1e300 once answered 500 from the decimal rounding).
Magnitude = Annotated[float, msgspec.Meta(ge=-MAX_GRADE_MAGNITUDE, le=MAX_GRADE_MAGNITUDE)]
Positive = Annotated[float, msgspec.Meta(gt=0, le=MAX_GRADE_MAGNITUDE)]


class ScoreIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    score: Annotated[float, msgspec.Meta(ge=0, le=MAX_GRADE_MAGNITUDE)] | None = None
    points_possible: Positive | None = None
    assessed_at: Annotated[datetime, msgspec.Meta(tz=True)] | None = None
    status: Literal["scored", "missing", "excused", "incomplete"] = "scored"

    def __post_init__(self) -> None:
        if self.assessed_at is not None:
            utc = utc_instant("assessed_at", self.assessed_at)
            msgspec.structs.force_setattr(self, "assessed_at", utc)
        points = self.points_possible
        if self.score is not None and points is not None and self.score > points:
            # As the attempts service refuses it: a converted score stays within the scale.
            raise ValueError(f"score: {self.score:g} exceeds points_possible {points:g}")


class ScaleIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    kind: Literal["levels", "percentage", "points"] = "levels"
    mastery_threshold: Magnitude | None = None
    maximum: Positive | None = None


class CalculationIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    scores: Annotated[list[ScoreIn], msgspec.Meta(max_length=1000)]
    method: Method = "latest"
    parameter: Magnitude | None = None
    scale: ScaleIn = ScaleIn()
    floor_percent: Annotated[float, msgspec.Meta(ge=0, le=100)] | None = None


def build_scale(scale: ScaleIn) -> ProficiencyScale:
    if scale.kind == "percentage":
        return percentage_scale(80 if scale.mastery_threshold is None else scale.mastery_threshold)
    if scale.kind == "points":
        if scale.maximum is None:
            raise InvalidPolicy("a points scale needs `maximum`")
        return points_scale(scale.maximum, scale.mastery_threshold)
    if scale.mastery_threshold is None:
        return DEFAULT_SCALE
    return msgspec.structs.replace(DEFAULT_SCALE, mastery_threshold=scale.mastery_threshold)


class ScoresOutOfRange(ValueError):
    """Scores that float arithmetic cannot carry through the calculation."""


def evaluate(request: CalculationIn) -> Proficiency:
    """Scores without a date are taken as given, one day apart, in the order listed (and the
    explanation shows no dates unless every score has one)."""
    evidence = [
        Evidence(
            attempt_id=f"#{index + 1}",
            assessed_at=item.assessed_at or _START + timedelta(days=index),
            recorded_seq=index,
            status=item.status,
            score=item.score,
            points_possible=item.points_possible,
        )
        for index, item in enumerate(request.scores)
    ]
    policy = CalculationPolicy(
        method=request.method,
        parameter=request.parameter,
        scale=build_scale(request.scale),
        floor_percent=request.floor_percent,
    )
    try:
        dated = all(item.assessed_at is not None for item in request.scores)
        return explained(evidence, policy, dated=dated)
    except (OverflowError, InvalidOperation) as error:
        # Numbers near the float limits (a score of 1e26, 1 of 1e-300 points) overflow the exact
        # sums or the decimal rounding: the request is out of range, not a fault of the server.
        raise ScoresOutOfRange("the scores are too large to calculate with") from error


class CalculatorController(Controller):
    path = "/v1/calculate"
    tags = ["calculator"]  # noqa: RUF012

    @post(
        "/",
        status_code=200,
        opt=requires("read"),
        summary="Calculate a proficiency from scores (stores nothing)",
    )
    async def calculate_proficiency(
        self, data: JSONBody[CalculationIn], tenant: NamedDependency[str]
    ) -> ProficiencyOut:
        try:
            return proficiency_view(evaluate(data))
        except InvalidPolicy as error:
            raise Problem(
                422, "invalid-policy", "The calculation policy is not valid", str(error),
                errors=[{"field": "parameter", "message": str(error)}],
            ) from error  # fmt: skip
        except ScoresOutOfRange as error:
            raise Problem(
                422, "scores-out-of-range", "The scores are out of range", str(error),
                errors=[{"field": "scores", "message": str(error)}],
            ) from error  # fmt: skip


def _calc_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mastery calc",
        description="Calculate a proficiency from scores in chronological order.",
    )
    parser.add_argument("--method", choices=tuple(CALCULATION_METHODS), default="latest")
    parser.add_argument("--param", type=float, default=None, help=_parameter_help())
    parser.add_argument("--mastery-threshold", type=float, default=None)
    parser.add_argument("--scale-max", type=float, default=None, help="plain points 0..MAX")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("scores", nargs="+", type=float, metavar="SCORE")
    return parser


def _parameter_help() -> str:
    ranges = [
        f"{name} {bounds.low:g}-{bounds.high:g} (default {bounds.default:g})"
        for name, method in CALCULATION_METHODS.items()
        if (bounds := method.parameter) is not None
    ]
    return "the method's parameter: " + ", ".join(ranges) + "; the others take none"


def _calc_request(args: argparse.Namespace) -> CalculationIn:
    """The request `POST /v1/calculate` would get, checked against the same bounds."""
    scale: dict[str, object] = {"mastery_threshold": args.mastery_threshold}
    if args.scale_max is not None:
        scale |= {"kind": "points", "maximum": args.scale_max}
    request = {
        "scores": [{"score": score} for score in args.scores],
        "method": args.method,
        "parameter": args.param,
        "scale": scale,
    }
    return msgspec.convert(request, CalculationIn)


def _cli_words(error: msgspec.ValidationError) -> str:
    """Name the option or score a validation error is about, as the command line spells it."""
    message, _, path = str(error).partition(" - at `$.")
    names = {"parameter": "--param", "scale.maximum": "--scale-max"}
    where = path.rstrip("`")
    where = names.get(where, "--mastery-threshold" if "threshold" in where else where)
    if where.startswith("scores["):
        where = f"score #{int(where[7:].split(']')[0]) + 1}"
    return f"{where}: {message}" if where else message


def run_calc(argv: list[str], out: TextIO, err: TextIO) -> int:
    try:
        args = _calc_parser().parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        result = evaluate(_calc_request(args))
    except (InvalidPolicy, ScoresOutOfRange) as error:
        print(f"mastery calc: {error}", file=err)
        return 2
    except msgspec.ValidationError as error:
        print(f"mastery calc: {_cli_words(error)}", file=err)
        return 2
    if args.json:
        out.write(_encoder.encode(proficiency_view(result)).decode() + "\n")
    else:
        out.write("\n".join(result.steps) + "\n")
    return 0
