"""`python -m devtools.refresh_advisories` copies the records of the lock's packages from a clone
of the advisory database, byte for byte, and names every package it looked up."""

import json
import subprocess
from pathlib import Path

from devtools.advisories import MANIFEST
from devtools.refresh_advisories import refresh

ROOT = Path(__file__).resolve().parents[2]
RECORD = ROOT / "tests" / "data" / "advisories" / "jinja2" / "PYSEC-2019-217.yaml"


def _git(repo: Path, *args: str) -> str:
    command = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    return subprocess.run([*command, *args], capture_output=True, text=True, check=True).stdout


def _database(path: Path) -> str:
    """A repository in the advisory database's layout; the commit of its HEAD."""
    (path / "vulns" / "jinja2").mkdir(parents=True)
    (path / "vulns" / "jinja2" / RECORD.name).write_bytes(RECORD.read_bytes())
    (path / "vulns" / "django").mkdir()
    (path / "vulns" / "django" / "PYSEC-2000-1.yaml").write_text("id: PYSEC-2000-1\n")
    _git(path, "init", "--quiet")
    _git(path, "add", ".")
    _git(path, "commit", "--quiet", "-m", "records")
    return _git(path, "rev-parse", "HEAD").strip()


def test_a_refresh_takes_the_locked_packages_records_and_names_every_locked_package(
    tmp_path: Path,
) -> None:
    commit = _database(tmp_path / "database")
    lock = tmp_path / "requirements.lock"
    lock.write_text("Jinja2==3.1.6\nidna==3.20\n")
    target = tmp_path / "snapshot"
    (target / "vulns" / "stale").mkdir(parents=True)  # a package the lock no longer pins
    refresh(tmp_path / "database", "HEAD", lock, target)
    copied = sorted(str(path.relative_to(target)) for path in target.rglob("*.yaml"))
    assert copied == ["vulns/jinja2/PYSEC-2019-217.yaml"]
    assert (target / copied[0]).read_bytes() == RECORD.read_bytes()
    manifest = json.loads((target / MANIFEST).read_text())
    assert manifest["commit"] == commit
    assert manifest["packages"] == ["idna", "jinja2"]
    assert not (target / "vulns" / "stale").exists()
