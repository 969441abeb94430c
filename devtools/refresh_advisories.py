"""Refresh the vendored advisory snapshot from a clone of the PyPA advisory database.

    git clone https://github.com/pypa/advisory-database /tmp/advisory-database
    .venv/bin/python -m devtools.refresh_advisories /tmp/advisory-database

It replaces `scripts/advisories/` with every record under `vulns/<package>/` at the clone's
HEAD (or `--rev`) for each package of `requirements.lock`, byte for byte, and a manifest naming
the commit, its date and the packages looked up (those without a record too: for them the
snapshot's answer is "none known", which is not the same as "not looked up").
"""

import argparse
import json
import shutil
import subprocess
from pathlib import Path

from packaging.utils import canonicalize_name

from devtools.advisories import MANIFEST, Pin, read_pins


def _git(clone: Path, *args: str) -> bytes:
    git = shutil.which("git") or "git"
    return subprocess.run([git, "-C", str(clone), *args], capture_output=True, check=True).stdout


def _lines(clone: Path, *args: str) -> list[str]:
    return _git(clone, *args).decode().splitlines()


def refresh(clone: Path, rev: str, lock: Path, target: Path) -> dict[str, object]:
    commit = _git(clone, "rev-parse", f"{rev}^{{commit}}").decode().strip()
    pinned = {
        item.name for item in read_pins(lock.read_text().splitlines()) if isinstance(item, Pin)
    }
    upstream = {
        canonicalize_name(path.removeprefix("vulns/")): path
        for path in _lines(clone, "ls-tree", "--name-only", commit, "vulns/")
    }
    shutil.rmtree(target / "vulns", ignore_errors=True)
    for name in sorted(pinned & upstream.keys()):
        for path in _lines(clone, "ls-tree", "-r", "--name-only", commit, f"{upstream[name]}/"):
            (target / path).parent.mkdir(parents=True, exist_ok=True)
            (target / path).write_bytes(_git(clone, "show", f"{commit}:{path}"))
    manifest: dict[str, object] = {
        "source": "https://github.com/pypa/advisory-database",
        "commit": commit,
        "committed": _git(clone, "log", "-1", "--format=%cI", commit).decode().strip(),
        "packages": sorted(pinned),
    }
    (target / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clone", type=Path, help="a clone (or bare repository) of the database")
    parser.add_argument("--rev", default="HEAD")
    parser.add_argument("--lock", type=Path, default=Path("requirements.lock"))
    parser.add_argument("--target", type=Path, default=Path("scripts/advisories"))
    args = parser.parse_args()
    manifest = refresh(args.clone, args.rev, args.lock, args.target)
    print(f"{args.target}: {manifest['commit']} ({manifest['committed']})")


if __name__ == "__main__":
    main()
