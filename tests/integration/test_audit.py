"""`scripts/audit.sh` fails on a known vulnerability and on a pin it could not audit.

The advisory data is a real record of the PyPA advisory database (PYSEC-2019-217, Jinja2's
sandbox escape before 2.10.1), served by a local OSV endpoint: the tests need no network.
"""

import subprocess
from pathlib import Path

from tests.support.osv import osv_endpoint

ROOT = Path(__file__).resolve().parents[2]
ADVISORIES = ROOT / "tests" / "data" / "advisories"


def _audit(requirements: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "audit.sh"), "-r", str(requirements), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_known_vulnerable_pin_fails_the_audit_naming_the_advisory(tmp_path: Path) -> None:
    vulnerable, fixed = tmp_path / "vulnerable.txt", tmp_path / "fixed.txt"
    vulnerable.write_text("jinja2==2.10\n")
    fixed.write_text("jinja2==2.10.1\n")
    with osv_endpoint(ADVISORIES) as url:
        found = _audit(vulnerable, "--vulnerability-service", "osv", "--osv-url", url)
        clean = _audit(fixed, "--vulnerability-service", "osv", "--osv-url", url)
    assert found.returncode == 1, found.stderr
    assert "PYSEC-2019-217" in found.stdout
    assert "2.10.1" in found.stdout  # the fix version
    assert clean.returncode == 0, clean.stdout + clean.stderr


def test_an_advisory_service_that_cannot_answer_fails_the_audit(tmp_path: Path) -> None:
    unknown = tmp_path / "unknown.txt"
    unknown.write_text("jinja2==2.10\n")
    with osv_endpoint(ADVISORIES) as url:
        # An OSV endpoint that answers 404 for everything: the pin could not be audited.
        result = _audit(unknown, "--vulnerability-service", "osv", "--osv-url", url + "/missing")
    assert result.returncode == 1
