"""Never a storm: what a burst of changes nets to, when an email may go out, and the digest's key.

Pure: changes, settings and `now` in; decisions out. A teacher's correction or a flap inside the
grace delay nets to nothing and sends nothing; quiet hours move an email to the morning, decided
in the school's time zone so a DST change neither loses nor doubles an hour of quiet.
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import msgspec

from shared.contract.events.mastery import MasteryChanged

PolicyChanges = Literal["silent", "summary"]


class QuietHours(msgspec.Struct, frozen=True, kw_only=True):
    """Local times; `start` after `end` spans midnight (20:00-07:00)."""

    start: time
    end: time


class StormSettings(msgspec.Struct, frozen=True, kw_only=True):
    grace_seconds: float = 600.0
    flap_window_hours: float = 24.0
    policy_changes: PolicyChanges = "summary"
    quiet_hours: QuietHours | None = QuietHours(start=time(20), end=time(7))
    digest_hour: int = 17
    digest_weekday: int = 4  # Monday 0 .. Sunday 6: Friday


class LastEmailed(msgspec.Struct, frozen=True, kw_only=True):
    """What a guardian was last told about one student's standard, and when."""

    standard_id: str
    mastered: bool
    crossed: bool  # that email said mastery was reached or lost
    emailed_at: datetime


def _moved(change: MasteryChanged) -> bool:
    return (change.level, change.mastered) != (change.previous_level, change.previous_mastered)


def net_change(changes: Sequence[MasteryChanged]) -> MasteryChanged | None:
    """One standard's changes in order, as one: the first's standing before, the last's after;
    None when the standard ends where it started (undone, or a flap)."""
    if not changes:
        return None
    first, last = changes[0], changes[-1]
    net = msgspec.structs.replace(
        last,
        previous_level=first.previous_level,
        previous_level_label=first.previous_level_label,
        previous_mastered=first.previous_mastered,
        previous_score=first.previous_score,
    )
    return net if _moved(net) else None


def net_changes(changes: Sequence[MasteryChanged]) -> list[MasteryChanged]:
    """Per student and standard (in order of first appearance), the net of its changes;
    standards that moved nowhere are left out."""
    by_standard: dict[tuple[str, str], list[MasteryChanged]] = {}
    for change in sorted(changes, key=lambda each: (each.changed_at, each.change_id)):
        by_standard.setdefault((change.student_id, change.standard_id), []).append(change)
    nets = (net_change(group) for group in by_standard.values())
    return [net for net in nets if net is not None]


def within_flap(
    change: MasteryChanged, last: LastEmailed | None, now: datetime, window: timedelta
) -> bool:
    """True when this change crosses the mastery line and the guardian's last email about the
    standard, inside the flap window, did too: mastered, not, mastered again is one email in the
    window. A first result or a level change does not use up the window."""
    if last is None or not last.crossed or now - last.emailed_at >= window:
        return False
    return crosses(change)


def crosses(change: MasteryChanged) -> bool:
    return change.mastered != change.previous_mastered


def next_allowed(now: datetime, time_zone: str, quiet: QuietHours | None) -> datetime:
    """`now`, or the end of the quiet hours it falls in (local wall time, then back to UTC)."""
    if quiet is None or quiet.start == quiet.end:
        return now
    zone = ZoneInfo(time_zone)
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    ends_on: date | None = None
    if quiet.start < quiet.end:
        ends_on = local.date() if quiet.start <= clock < quiet.end else None
    elif clock >= quiet.start:
        ends_on = local.date() + timedelta(days=1)
    elif clock < quiet.end:
        ends_on = local.date()
    if ends_on is None:
        return now
    # A wall time in a spring-forward gap resolves (fold=0) to the same instant just after it.
    end = datetime.combine(ends_on, quiet.end, tzinfo=zone).astimezone(UTC)
    return max(end, now)


def digest_due(
    now: datetime, time_zone: str, delivery: str, settings: StormSettings
) -> date | None:
    """The school's local day whose digest is due at `now` (its hour reached; weekly: on its
    weekday), or None. The day names the digest, so a rerun finds it already sent."""
    local = now.astimezone(ZoneInfo(time_zone))
    if local.hour < settings.digest_hour:
        return None
    if delivery == "weekly_digest" and local.weekday() != settings.digest_weekday:
        return None
    if delivery not in ("daily_digest", "weekly_digest"):
        return None
    return local.date()


def digest_id(guardian_email: str, local_day: date) -> str:
    """The deterministic key of a digest (with the guardian, its outbox key)."""
    return f"digest:{guardian_email}:{local_day.isoformat()}"
