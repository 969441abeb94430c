"""Instants as clients send them: RFC 3339 with a UTC offset that exists on Earth, kept in UTC.

Offsets in use run from -12:00 to +14:00; ±14:00 is the bound RFC 3339 readers can rely on.
Anything further (`+16:00`) is a typo or an attack: Python accepts offsets up to ±23:59, but
PostgreSQL and other readers of the log do not, so one is refused where it enters.
"""

from datetime import UTC, datetime, timedelta

MAX_UTC_OFFSET = timedelta(hours=14)


def offset_problem(value: datetime) -> str | None:
    """Why `value` cannot be taken as an instant, or None when it can."""
    offset = value.utcoffset()
    if offset is None:
        return "needs a UTC offset (`Z` or `+hh:mm`)"
    if abs(offset) > MAX_UTC_OFFSET:
        return f"UTC offset {_hours_minutes(offset)} lies outside -14:00 to +14:00"
    return None


def _hours_minutes(offset: timedelta) -> str:
    sign = "-" if offset < timedelta(0) else "+"
    minutes = int(abs(offset).total_seconds()) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def utc_instant(field: str, value: datetime) -> datetime:
    """`value` in UTC, for a request Struct's `__post_init__`; msgspec turns the ValueError into a
    validation error, and the `field: ` prefix is how the HTTP layer names the field."""
    problem = offset_problem(value)
    if problem is not None:
        raise ValueError(f"{field}: {problem}")
    return value.astimezone(UTC)
