"""`scripts/audit.sh` fails on a known vulnerability and on a pin it could not check.

The advisory data is real: PYSEC-2019-217 (Jinja2's sandbox escape before 2.10.1) as the PyPA
advisory database holds it, and the vendored snapshot of that database in scripts/advisories.
pip-audit's path is run against a local OSV endpoint, the snapshot's path reads files only: the
tests need no network.
"""

import json
import shutil
import subprocess
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import Version

from devtools.advisories import MANIFEST, Pin, read_pins
from devtools.audit import osv_answers
from tests.support.osv import osv_endpoint

ROOT = Path(__file__).resolve().parents[2]
ADVISORIES = ROOT / "tests" / "data" / "advisories"
SNAPSHOT = ROOT / "scripts" / "advisories"


def _audit(requirements: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "audit.sh"), "-r", str(requirements), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _requirements(tmp_path: Path, name: str, *lines: str) -> Path:
    path = tmp_path / name
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def _snapshot_with_jinja2(tmp_path: Path) -> Path:
    """The vendored snapshot with Jinja2's records cut down to the one the tests read, so what
    a pin is found affected by does not move with the vendored records."""
    snapshot = tmp_path / "snapshot"
    shutil.copytree(SNAPSHOT, snapshot)
    shutil.rmtree(snapshot / "vulns" / "jinja2", ignore_errors=True)
    shutil.copytree(ADVISORIES / "jinja2", snapshot / "vulns" / "jinja2")
    manifest = json.loads((snapshot / MANIFEST).read_text())
    manifest["packages"] = sorted({*manifest["packages"], "jinja2"})
    (snapshot / MANIFEST).write_text(json.dumps(manifest))
    return snapshot


def test_a_known_vulnerable_pin_fails_the_audit_naming_the_advisory(tmp_path: Path) -> None:
    vulnerable = _requirements(tmp_path, "vulnerable.txt", "jinja2==2.10")
    fixed = _requirements(tmp_path, "fixed.txt", "jinja2==2.10.1")
    with osv_endpoint(ADVISORIES) as url:
        found = _audit(vulnerable, "--source", "osv", "--osv-url", url)
        clean = _audit(fixed, "--source", "osv", "--osv-url", url)
    assert found.returncode == 1, found.stderr
    assert "PYSEC-2019-217" in found.stdout
    assert "2.10.1" in found.stdout  # the fix version
    assert clean.returncode == 0, clean.stdout + clean.stderr


def test_an_advisory_service_that_cannot_answer_fails_the_audit(tmp_path: Path) -> None:
    # A release with no known vulnerability: only the unanswered query can fail it.
    unknown = _requirements(tmp_path, "unknown.txt", "jinja2==2.10.1")
    with osv_endpoint(ADVISORIES) as url:
        # An OSV endpoint that answers 404 for everything: the pin could not be audited.
        result = _audit(unknown, "--source", "osv", "--osv-url", url + "/missing")
    assert result.returncode == 1
    assert "No known vulnerabilities found" not in result.stdout


def test_the_snapshot_fails_a_known_vulnerable_pin_naming_the_advisory(tmp_path: Path) -> None:
    snapshot = _snapshot_with_jinja2(tmp_path)
    vulnerable = _requirements(tmp_path, "vulnerable.txt", "Jinja2==2.10", "idna==3.20")
    fixed = _requirements(tmp_path, "fixed.txt", "Jinja2==2.10.1", "idna==3.20")
    found = _audit(vulnerable, "--source", "snapshot", "--snapshot", str(snapshot))
    clean = _audit(fixed, "--source", "snapshot", "--snapshot", str(snapshot))
    assert found.returncode == 1, found.stdout + found.stderr
    rows = [line.split() for line in found.stdout.splitlines()]
    assert ["jinja2", "2.10", "PYSEC-2019-217", "2.10.1"] in rows
    assert "Found 1 known vulnerabilities in 1 packages" in found.stdout
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "No known vulnerabilities found" in clean.stdout


def test_the_vendored_snapshot_knows_the_advisories_of_old_pins_of_locked_packages(
    tmp_path: Path,
) -> None:
    old = _requirements(tmp_path, "old.txt", "urllib3==1.26.4", "werkzeug==2.2.2")
    result = _audit(old, "--source", "snapshot")
    assert result.returncode == 1
    for advisory in ("PYSEC-2021-108", "PYSEC-2023-192", "PYSEC-2023-212", "PYSEC-2023-57"):
        assert advisory in result.stdout
    assert "Found 6 known vulnerabilities in 2 packages" in result.stdout


def test_the_lock_passes_against_the_vendored_snapshot() -> None:
    pins = list(read_pins((ROOT / "requirements.lock").read_text().splitlines()))
    assert all(isinstance(pin, Pin) for pin in pins)
    result = _audit(ROOT / "requirements.lock", "--source", "snapshot")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Source: the vendored snapshot" in result.stdout
    records = len(list(SNAPSHOT.glob("vulns/*/*.yaml")))  # every package's: all are locked
    assert f"Checked {len(pins)} pins against the {records} advisories" in result.stdout
    assert "No known vulnerabilities found" in result.stdout


def test_a_pin_the_snapshot_did_not_look_up_fails_rather_than_passing(tmp_path: Path) -> None:
    # flask has records upstream, but the vendored snapshot never looked it up (not locked).
    uncovered = _requirements(tmp_path, "uncovered.txt", "flask==2.2.5")
    result = _audit(uncovered, "--source", "snapshot")
    assert result.returncode == 1
    assert "flask==2.2.5: the snapshot does not cover this package" in result.stdout
    assert "No known vulnerabilities found" not in result.stdout


def test_a_requirement_that_pins_no_single_release_fails(tmp_path: Path) -> None:
    loose = _requirements(tmp_path, "loose.txt", "idna>=3", "urllib3==2.*")
    result = _audit(loose, "--source", "snapshot")
    assert result.returncode == 1
    assert "idna>=3: not pinned to one release" in result.stdout
    assert "urllib3==2.*: not pinned to one release" in result.stdout


def test_the_osv_probe_tells_an_answering_endpoint_from_one_that_does_not() -> None:
    pin = Pin(canonicalize_name("Jinja2"), Version("2.10"))
    with osv_endpoint(ADVISORIES) as url:
        assert osv_answers(pin, url) == (True, "answered")
        assert osv_answers(pin, url + "/missing") == (False, "HTTP 404")
