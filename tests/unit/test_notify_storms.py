"""Never a storm, decided purely: netting bursts of changes, the flap window, quiet hours across DST
changes, and which digest is due."""

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from services.notify.config import NotifyConfig
from services.notify.core.storms import (
    LastEmailed,
    QuietHours,
    StormSettings,
    digest_due,
    digest_id,
    net_change,
    net_changes,
    next_allowed,
    within_flap,
)
from shared.contract.events.mastery import MasteryChanged
from tests.support.family_email import CHANGE

T0 = datetime(2026, 10, 1, 12, tzinfo=UTC)
NIGHT = QuietHours(start=time(20), end=time(7))


def _walk(standard: str, levels: list[int], start: int = 0) -> list[MasteryChanged]:
    """Consecutive changes of one standard through `levels` (mastered from level 3)."""
    return [
        msgspec.structs.replace(
            CHANGE,
            change_id=f"{standard}-{index}",
            standard_id=standard,
            previous_level=before,
            previous_mastered=before >= 3,
            level=after,
            mastered=after >= 3,
            changed_at=T0 + timedelta(seconds=start + index),
        )
        for index, (before, after) in enumerate(pairwise(levels))
    ]


def test_a_flap_within_the_grace_nets_to_nothing() -> None:
    assert net_changes(_walk("s", [2, 3, 2])) == []
    assert net_changes(_walk("s", [2, 3, 2, 3, 2])) == []


def test_a_flap_that_ends_elsewhere_is_one_change_from_the_first_standing() -> None:
    (net,) = net_changes(_walk("s", [2, 3, 2, 3]))
    assert (net.previous_level, net.level, net.mastered, net.change_id) == (2, 3, True, "s-2")


def test_several_standards_each_keep_their_own_net() -> None:
    changes = _walk("a", [1, 2]) + _walk("b", [3, 2, 3], start=5) + _walk("c", [2, 4], start=9)
    assert [net.standard_id for net in net_changes(changes)] == ["a", "c"]


def test_the_same_standard_of_two_students_is_netted_apart() -> None:
    changes = _walk("s", [2, 3]) + [
        msgspec.structs.replace(each, student_id="maya") for each in _walk("s", [1, 2], start=3)
    ]
    assert [net.student_id for net in net_changes(changes)] == ["noah", "maya"]


@given(st.lists(st.integers(min_value=0, max_value=4), min_size=2, max_size=8))
def test_the_net_of_a_walk_is_its_ends(levels: list[int]) -> None:
    net = net_change(_walk("s", levels))
    if levels[0] == levels[-1]:
        assert net is None
    else:
        assert net is not None
        assert (net.previous_level, net.level) == (levels[0], levels[-1])


@given(st.lists(st.integers(min_value=0, max_value=4), min_size=2, max_size=8), st.randoms())
def test_the_net_does_not_depend_on_arrival_order(levels: list[int], rng: object) -> None:
    changes = _walk("s", levels)
    shuffled = list(changes)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    assert net_changes(shuffled) == net_changes(changes)


def test_a_second_crossing_inside_the_flap_window_is_held_back() -> None:
    emailed = LastEmailed(standard_id="s", mastered=True, crossed=True, emailed_at=T0)
    first_result = LastEmailed(standard_id="s", mastered=False, crossed=False, emailed_at=T0)
    (reached,) = _walk("s", [2, 3])
    assert not within_flap(reached, first_result, T0 + timedelta(hours=2), timedelta(hours=24))
    (back_down,) = _walk("s", [3, 2])
    (level_only,) = _walk("s", [3, 4])
    window = timedelta(hours=24)
    assert within_flap(back_down, emailed, T0 + timedelta(hours=2), window)
    assert not within_flap(level_only, emailed, T0 + timedelta(hours=2), window)
    assert not within_flap(back_down, emailed, T0 + timedelta(hours=25), window)
    assert not within_flap(back_down, None, T0, window)


def test_outside_quiet_hours_an_email_goes_now() -> None:
    noon = datetime(2026, 10, 1, 16, tzinfo=UTC)  # 12:00 in New York
    assert next_allowed(noon, "America/New_York", NIGHT) == noon
    assert next_allowed(noon, "America/New_York", None) == noon


def test_an_evening_email_waits_for_seven_the_next_morning() -> None:
    evening = datetime(2026, 10, 2, 1, tzinfo=UTC)  # 21:00 on 1 October in New York
    assert next_allowed(evening, "America/New_York", NIGHT) == datetime(2026, 10, 2, 11, tzinfo=UTC)


def test_across_the_autumn_change_seven_is_seven_local_time() -> None:
    # 1 November 2026: New York goes from EDT (-4) to EST (-5) at 02:00.
    before = datetime(2026, 11, 1, 2, tzinfo=UTC)  # 22:00 EDT on 31 October
    assert next_allowed(before, "America/New_York", NIGHT) == datetime(2026, 11, 1, 12, tzinfo=UTC)


def test_across_the_spring_change_seven_is_seven_local_time() -> None:
    # 8 March 2026: New York goes from EST (-5) to EDT (-4) at 02:00.
    before = datetime(2026, 3, 8, 3, tzinfo=UTC)  # 22:00 EST on 7 March
    assert next_allowed(before, "America/New_York", NIGHT) == datetime(2026, 3, 8, 11, tzinfo=UTC)


def test_a_quiet_end_in_the_spring_gap_resolves_just_after_it() -> None:
    gap = QuietHours(start=time(1), end=time(2, 30))
    at = datetime(2026, 3, 8, 6, 30, tzinfo=UTC)  # 01:30 EST
    assert next_allowed(at, "America/New_York", gap) == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)


@given(st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 1, 1)))
def test_the_next_allowed_instant_is_never_earlier_or_inside_the_quiet(naive: datetime) -> None:
    now = naive.replace(tzinfo=UTC)
    allowed = next_allowed(now, "Europe/Madrid", NIGHT)
    assert now <= allowed <= now + timedelta(hours=12)
    assert next_allowed(allowed, "Europe/Madrid", NIGHT) == allowed


def test_a_daily_digest_is_due_from_its_hour_and_named_by_the_local_day() -> None:
    settings = StormSettings(digest_hour=17)
    before = datetime(2026, 10, 2, 20, 59, tzinfo=UTC)  # 16:59 in New York
    after = datetime(2026, 10, 2, 21, tzinfo=UTC)
    assert digest_due(before, "America/New_York", "daily_digest", settings) is None
    assert digest_due(after, "America/New_York", "daily_digest", settings) == date(2026, 10, 2)
    assert digest_id("rosa@example.org", date(2026, 10, 2)) == "digest:rosa@example.org:2026-10-02"


def test_a_weekly_digest_is_due_only_on_its_weekday() -> None:
    settings = StormSettings(digest_hour=17, digest_weekday=4)
    friday = datetime(2026, 10, 2, 22, tzinfo=UTC)
    thursday = datetime(2026, 10, 1, 22, tzinfo=UTC)
    assert digest_due(friday, "America/New_York", "weekly_digest", settings) == date(2026, 10, 2)
    assert digest_due(thursday, "America/New_York", "weekly_digest", settings) is None
    assert digest_due(friday, "America/New_York", "immediate", settings) is None


def test_the_service_defaults_for_schools_without_settings_come_from_the_environment() -> None:
    config = msgspec.convert(
        {"database_url": "postgresql://x/y", "mail_default_grace_seconds": "5",
         "mail_default_quiet_hours": "21:00-06:30"},
        NotifyConfig, strict=False,
    )  # fmt: skip
    defaults = config.storm_defaults()
    assert defaults.grace_seconds == 5
    assert defaults.quiet_hours == QuietHours(start=time(21), end=time(6, 30))
    assert msgspec.structs.replace(config, mail_default_quiet_hours="").storm_defaults() == (
        StormSettings(grace_seconds=5, quiet_hours=None)
    )
