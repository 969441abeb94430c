"""A running tally of one student's scores on one standard, in assessed order. Pure.

Each calculation method (`methods.py`) keeps its own parts of the tally up to date and reads its
result from them. `calculate` folds every score in, and the projector keeps the tally between
events, so a new attempt that is the newest evidence costs the same whatever the history: no method
needs the earlier scores again. (Evidence that lands before the newest, a void, a rescore or a
policy change makes the projector fold again from the evidence rows: O(n) in the attempts on that
one standard.) This module holds the parts and their constant-time arithmetic.

Sums are exact (Shewchuk partials, as in `math.fsum`), so an average does not depend on order and
the incremental result is bit-for-bit the result of a full recomputation.
"""

import math

import msgspec


class ScoreCount(msgspec.Struct, frozen=True, array_like=True):
    score: float
    count: int
    last_seen: int  # position (1-based) of the most recent occurrence, for mode's tie-break


class LogFit(msgspec.Struct, frozen=True, kw_only=True):
    """Sums for the least-squares fit of ln(score) on ln(k); `shifted` sums use ln(score + 1)."""

    sx: float = 0.0
    sxx: float = 0.0
    sy: float = 0.0
    sxy: float = 0.0
    sy_shifted: float = 0.0
    sxy_shifted: float = 0.0
    zero_seen: bool = False


class Tally(msgspec.Struct, frozen=True, kw_only=True):
    """Only the parts the policy's method reads are kept up to date; the rest keep their defaults.

    Stored as JSON (`proficiencies.state`): renaming or retyping a field breaks every stored state.
    """

    count: int = 0
    latest: float = 0.0
    highest: float = 0.0
    total: tuple[float, ...] = ()  # exact partial sums of every score
    decaying: float = 0.0
    reaching_count: int = 0  # scores at or above the mastery threshold (n_mastery)
    reaching_total: tuple[float, ...] = ()
    counts: tuple[ScoreCount, ...] = ()  # mode
    fit: LogFit = LogFit()


class PowerFit(msgspec.Struct, frozen=True, kw_only=True):
    a: float
    b: float
    predicted: float
    shifted: bool


def add_exact(partials: tuple[float, ...], value: float) -> tuple[float, ...]:
    """Shewchuk's exact running sum: `math.fsum(result)` is the correctly rounded total."""
    kept: list[float] = []
    for partial in partials:
        high, low = (value, partial) if abs(value) >= abs(partial) else (partial, value)
        total = high + low
        error = low - (total - high)
        if error:
            kept.append(error)
        value = total
    kept.append(value)
    return tuple(kept)


def counted(counts: tuple[ScoreCount, ...], score: float, position: int) -> tuple[ScoreCount, ...]:
    for index, entry in enumerate(counts):
        if entry.score == score:
            updated = ScoreCount(score, entry.count + 1, position)
            return (*counts[:index], updated, *counts[index + 1 :])
    return (*counts, ScoreCount(score, 1, position))


def fitted(fit: LogFit, score: float, k: int) -> LogFit:
    x = math.log(k)
    y = math.log(score) if score > 0 else 0.0
    y_shifted = math.log(score + 1)
    return LogFit(
        sx=fit.sx + x,
        sxx=fit.sxx + x * x,
        sy=fit.sy + y,
        sxy=fit.sxy + x * y,
        sy_shifted=fit.sy_shifted + y_shifted,
        sxy_shifted=fit.sxy_shifted + x * y_shifted,
        zero_seen=fit.zero_seen or score <= 0,
    )


def power_fit(tally: Tally) -> PowerFit:
    """Least squares of ln(score) on ln(k), k = 1..n, evaluated at k = n (needs n >= 2).

    ln(0) is undefined: with a zero present every score is shifted up by 1 for the fit and the
    prediction shifted back, which keeps the trend's shape and the order of scores.
    """
    fit, n = tally.fit, tally.count
    shift = 1.0 if fit.zero_seen else 0.0
    sy, sxy = (fit.sy_shifted, fit.sxy_shifted) if shift else (fit.sy, fit.sxy)
    b = (n * sxy - fit.sx * sy) / (n * fit.sxx - fit.sx * fit.sx)
    log_a = (sy - b * fit.sx) / n
    return PowerFit(
        a=math.exp(log_a),
        b=b,
        predicted=math.exp(log_a + b * math.log(n)) - shift,
        shifted=bool(shift),
    )


def mode_of(tally: Tally) -> ScoreCount:
    """The most frequent score; a tie goes to the one seen most recently."""
    return max(tally.counts, key=lambda entry: (entry.count, entry.last_seen))


def earlier_mean(tally: Tally) -> float:
    """Mean of every score but the newest (count >= 2), exactly summed."""
    return math.fsum((*tally.total, -tally.latest)) / (tally.count - 1)
