"""The partition of a student's events is wire contract: known values pin it across releases."""

from collections import Counter

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.contract.partitions import MAX_PARTITIONS, partition_of, partition_token
from shared.platform.bus import bus_names
from shared.platform.config import BusConfig


@pytest.mark.parametrize(
    ("tenant_id", "student_id", "partitions", "expected"),
    [
        ("school", "s1", 8, 5),
        ("school", "s2", 8, 3),
        ("school", "s2", 16, 11),
        ("t", "a.b", 8, 6),
        ("acme", "student-42", 4, 3),
        ("acme", "student-42", 1, 0),
    ],
)
def test_known_values_never_change(
    tenant_id: str, student_id: str, partitions: int, expected: int
) -> None:
    assert partition_of(tenant_id, student_id, partitions) == expected


def test_the_tenant_is_part_of_the_key() -> None:
    spread = {partition_of(f"tenant-{n}", "same-student", 8) for n in range(40)}
    assert len(spread) > 4


def test_students_spread_over_every_partition() -> None:
    counts = Counter(partition_of("school", f"student-{n}", 8) for n in range(8000))
    assert sorted(counts) == list(range(8))
    assert min(counts.values()) > 800  # an even share is 1000


@given(st.text(), st.text(), st.integers(min_value=1, max_value=MAX_PARTITIONS))
def test_always_in_range(tenant_id: str, student_id: str, partitions: int) -> None:
    assert 0 <= partition_of(tenant_id, student_id, partitions) < partitions


@pytest.mark.parametrize("partitions", [0, MAX_PARTITIONS + 1])
def test_a_count_out_of_bounds_is_refused(partitions: int) -> None:
    with pytest.raises(ValueError, match="partitions must be"):
        partition_of("school", "s1", partitions)


def test_tokens() -> None:
    assert [partition_token(k) for k in range(3)] == ["p0", "p1", "p2"]


@pytest.mark.parametrize("partitions", ["0", str(MAX_PARTITIONS + 1)])
def test_the_configured_count_is_bounded(partitions: str) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"bus_projector_partitions": partitions}, BusConfig, strict=False)


def test_the_configured_count_reaches_the_bus_names() -> None:
    config = msgspec.convert({"bus_projector_partitions": "3"}, BusConfig, strict=False)
    names = bus_names(config)
    assert names.partitions == 3
    assert names.student_attempts("school", "s1", "recorded") == (
        f"attempts.school.p{partition_of('school', 's1', 3)}.recorded"
    )
    assert names.partition_attempts(2) == "attempts.*.p2.*"
    assert names.all_attempts() == "attempts.*.*"
