"""How results are rounded (half-up, 2 decimals) and how numbers read in the explanation steps."""

from decimal import ROUND_HALF_UP, Decimal

Steps = list[str]


def round_half_up(value: float) -> float:
    return float(Decimal(repr(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def number(value: float) -> str:
    return f"{value:g}"


def shown(value: float) -> str:
    """An intermediate value as a teacher sees it: rounded like a result."""
    return number(round_half_up(value))


def listed(scores: list[float]) -> str:
    return ", ".join(map(number, scores))
