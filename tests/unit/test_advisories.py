"""The snapshot audit's reading of OSV records and of requirement lines."""

from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from devtools.advisories import Pin, affects, fixed_in, load_snapshot, read_pins

SNAPSHOT = Path(__file__).resolve().parents[2] / "scripts" / "advisories"


def _pin(name: str, version: str) -> Pin:
    return Pin(canonicalize_name(name), Version(version))


def _record(
    *events: dict[str, str], versions: tuple[str, ...] = (), **extra: Any
) -> dict[str, Any]:
    entry = {
        "package": {"name": "Demo_Pkg", "ecosystem": "PyPI"},
        "ranges": [{"type": "ECOSYSTEM", "events": list(events)}],
        "versions": list(versions),
    }
    return {"id": "PYSEC-0000-1", "affected": [entry], **extra}


def test_the_ranges_agree_with_every_release_the_vendored_records_list() -> None:
    """Each record lists the releases its ranges held when it was written: evaluating the
    ranges alone must find every one of them affected, and no `fixed` release. Withdrawn
    records affect nothing (redis's PYSEC-2023-73 still lists every release)."""
    snapshot = load_snapshot(SNAPSHOT)
    listed = 0
    for name, records in snapshot.records.items():
        for record in records:
            if "withdrawn" in record:
                assert not affects(record, _pin(name, record["affected"][0]["versions"][0]))
                continue
            for entry in record["affected"]:
                releases, entry["versions"] = entry["versions"], []
                for release in releases:
                    assert affects(record, _pin(name, release)), (record["id"], release)
                for fix in fixed_in(record, _pin(name, "0")):
                    assert not affects(record, _pin(name, fix)), (record["id"], fix)
                listed += len(releases)
    assert listed > 2000


@pytest.mark.parametrize(
    ("version", "affected"),
    [
        ("0.9", False),
        ("1.0", True),
        ("1.4.2", True),
        ("1.5", False),
        ("1.9", False),
        ("2.0", True),
        ("2.1", True),
        ("2.1.1", False),
    ],
)
def test_introduced_opens_fixed_closes_and_last_affected_closes_after_itself(
    version: str, affected: bool
) -> None:
    record = _record({"introduced": "1.0"}, {"fixed": "1.5"})
    record["affected"][0]["ranges"].append(
        {"type": "ECOSYSTEM", "events": [{"introduced": "2.0"}, {"last_affected": "2.1"}]}
    )
    assert affects(record, _pin("demo-pkg", version)) is affected


def test_names_are_compared_normalised_and_other_ecosystems_withdrawn_records_ignored() -> None:
    record = _record({"introduced": "0"}, {"fixed": "3"})
    assert affects(record, _pin("demo.pkg", "1"))
    assert not affects(record, _pin("other", "1"))
    assert not affects({**record, "withdrawn": "2024-01-01T00:00:00Z"}, _pin("demo-pkg", "1"))
    record["affected"][0]["package"]["ecosystem"] = "npm"
    assert not affects(record, _pin("demo-pkg", "1"))


def test_fix_versions_are_those_after_the_pin() -> None:
    record = _record({"introduced": "0"}, {"fixed": "1.2"}, {"introduced": "2.0"}, {"fixed": "2.3"})
    assert fixed_in(record, _pin("demo-pkg", "2.1")) == ("2.3",)
    assert fixed_in(record, _pin("demo-pkg", "1.0")) == ("1.2", "2.3")


def test_a_listed_release_is_affected_even_outside_the_ranges() -> None:
    record = _record({"introduced": "1.0"}, {"fixed": "1.1"}, versions=("0.5", "not a version"))
    assert affects(record, _pin("demo-pkg", "0.5"))
    assert not affects(record, _pin("demo-pkg", "0.6"))


def test_only_a_single_exact_release_is_a_pin() -> None:
    lines = ["PyYAML==6.0.4  # why", "", "# note", "a>=1", "b==1.*", "c==1,!=2", "-r x.txt", "d"]
    assert list(read_pins(lines)) == [
        _pin("pyyaml", "6.0.4"),
        "a>=1",
        "b==1.*",
        "c==1,!=2",
        "-r x.txt",
        "d",
    ]
