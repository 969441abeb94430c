"""Pinned requirements checked against a vendored snapshot of the PyPA advisory database.

The snapshot (`scripts/advisories/`) holds the upstream OSV records, byte for byte, of every
package the lock pinned when it was taken, and a manifest naming those packages. A package the
manifest does not name was never looked up, so its pin counts as unchecked rather than clean.

A record affects a pin when its PyPI `affected` entry lists the version or an ECOSYSTEM range
holds it (OSV's rule: sorted events, `introduced` opens, `fixed` closes, `last_affected` closes
after itself). GIT ranges name commits and cannot be evaluated against a release; PyPA records
carry their releases in `versions` as well.
"""

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

MANIFEST = "snapshot.json"


@dataclass(frozen=True)
class Pin:
    name: NormalizedName
    version: Version

    def __str__(self) -> str:
        return f"{self.name}=={self.version}"


@dataclass(frozen=True)
class Finding:
    pin: Pin
    advisory: str
    fixed_in: tuple[str, ...]


@dataclass(frozen=True)
class Snapshot:
    commit: str
    committed: str
    packages: frozenset[NormalizedName]
    records: dict[NormalizedName, tuple[dict[str, Any], ...]]

    @property
    def record_count(self) -> int:
        return sum(len(records) for records in self.records.values())


@dataclass(frozen=True)
class Audit:
    pins: tuple[Pin, ...]  # those the snapshot covers
    findings: tuple[Finding, ...]
    unchecked: tuple[str, ...]
    records_checked: int


def load_snapshot(directory: Path) -> Snapshot:
    manifest = json.loads((directory / MANIFEST).read_text())
    records: dict[NormalizedName, list[dict[str, Any]]] = {}
    for path in sorted((directory / "vulns").glob("*/*.yaml")):
        records.setdefault(canonicalize_name(path.parent.name), []).append(
            yaml.safe_load(path.read_text())
        )
    return Snapshot(
        commit=manifest["commit"],
        committed=manifest["committed"],
        packages=frozenset(canonicalize_name(name) for name in manifest["packages"]),
        records={name: tuple(found) for name, found in records.items()},
    )


def read_pins(lines: Iterable[str]) -> Iterator[Pin | str]:
    """Each requirement as a pin, or as its text when it pins no single release."""
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if line:
            yield _pin(line) or line


def _pin(line: str) -> Pin | None:
    try:
        requirement = Requirement(line)
        specifiers = list(requirement.specifier)
        if len(specifiers) != 1 or specifiers[0].operator not in ("==", "==="):
            return None
        return Pin(canonicalize_name(requirement.name), Version(specifiers[0].version))
    except (InvalidRequirement, InvalidVersion):
        return None  # a wildcard (`==1.*`) is no Version either


def audit(requirements: Iterable[Pin | str], snapshot: Snapshot) -> Audit:
    items = tuple(requirements)
    unchecked = [f"{item}: not pinned to one release" for item in items if isinstance(item, str)]
    pins = [item for item in items if isinstance(item, Pin)]
    unchecked += [
        f"{pin}: the snapshot does not cover this package (refresh it)"
        for pin in pins
        if pin.name not in snapshot.packages
    ]
    covered = tuple(pin for pin in pins if pin.name in snapshot.packages)
    return _audit_pins(covered, snapshot, unchecked)


def _audit_pins(pins: tuple[Pin, ...], snapshot: Snapshot, unchecked: list[str]) -> Audit:
    findings: list[Finding] = []
    checked = 0
    for pin in pins:
        for record in snapshot.records.get(pin.name, ()):
            checked += 1
            try:
                if affects(record, pin):
                    findings.append(Finding(pin, record["id"], fixed_in(record, pin)))
            except InvalidVersion as error:
                unchecked.append(f"{pin}: {record['id']} has a version it cannot read ({error})")
    return Audit(pins, tuple(findings), tuple(unchecked), checked)


def _entries(record: dict[str, Any], pin: Pin) -> Iterator[dict[str, Any]]:
    if "withdrawn" in record:
        return
    for entry in record.get("affected", ()):
        package = entry.get("package", {})
        if package.get("ecosystem") == "PyPI" and canonicalize_name(package["name"]) == pin.name:
            yield entry


def affects(record: dict[str, Any], pin: Pin) -> bool:
    return any(
        _listed(entry.get("versions", ()), pin.version)
        or any(_in_range(events, pin.version) for events in _ecosystem_ranges(entry))
        for entry in _entries(record, pin)
    )


def fixed_in(record: dict[str, Any], pin: Pin) -> tuple[str, ...]:
    """The releases that fix this record after the pinned one."""
    fixes = {
        Version(event["fixed"])
        for entry in _entries(record, pin)
        for events in _ecosystem_ranges(entry)
        for event in events
        if "fixed" in event
    }
    return tuple(str(fix) for fix in sorted(fixes) if fix > pin.version)


def _ecosystem_ranges(entry: dict[str, Any]) -> Iterator[list[dict[str, str]]]:
    for affected_range in entry.get("ranges", ()):
        if affected_range["type"] in ("ECOSYSTEM", "SEMVER"):
            yield affected_range["events"]


def _listed(versions: Iterable[str], version: Version) -> bool:
    for listed in versions:
        try:
            if Version(listed) == version:
                return True
        except InvalidVersion:
            continue  # a listed release pip could not install either: it cannot be our pin
    return False


def _in_range(events: list[dict[str, str]], version: Version) -> bool:
    affected = False
    for event in sorted(events, key=_event_version):
        ((kind, bound),) = event.items()
        at = Version(bound)
        if kind == "introduced" and at <= version:
            affected = True
        elif (kind == "fixed" and at <= version) or (kind == "last_affected" and at < version):
            affected = False
    return affected


def _event_version(event: dict[str, str]) -> Version:
    (bound,) = event.values()
    return Version(bound)


def report(result: Audit) -> str:
    """What was checked, pip-audit's table of findings, what could not be checked, a verdict."""
    lines = [
        f"Checked {len(result.pins)} pins against the {result.records_checked} advisories"
        " for their packages.",
        *_table(result.findings),
        *(f"Could not check {text}" for text in result.unchecked),
    ]
    if result.findings:
        packages = len({finding.pin for finding in result.findings})
        lines.append(f"Found {len(result.findings)} known vulnerabilities in {packages} packages")
    elif result.unchecked:
        lines.append(
            f"No known vulnerabilities in the pins checked; {len(result.unchecked)} unchecked"
        )
    else:
        lines.append("No known vulnerabilities found")
    return "\n".join(lines)


def _table(findings: tuple[Finding, ...]) -> list[str]:
    if not findings:
        return []
    rows = [("Name", "Version", "ID", "Fix Versions")] + [
        (f.pin.name, str(f.pin.version), f.advisory, ",".join(f.fixed_in)) for f in findings
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    return [
        " ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
