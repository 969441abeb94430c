"""`scripts/audit.sh`: the pinned requirements against an advisory database that answers here.

`--source auto` (the default) asks PyPI's per-release JSON about the first pin, then OSV, and
audits with pip-audit against the first that answers; when neither does, against the vendored
snapshot of the PyPA advisory database. It says which source it used and why. Either way the
exit status is 1 on any known vulnerability and on any pin that could not be checked: an audit
that skipped a dependency must not pass.
"""

import argparse
import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from devtools.advisories import Pin, audit, load_snapshot, read_pins, report

PYPI_URL = "https://pypi.org/pypi"
OSV_URL = "https://api.osv.dev/v1/query"
PROBE_TIMEOUT = 10.0


def _answer(url: str, query: Mapping[str, object] | None = None) -> tuple[bool, dict[str, object]]:
    """Whether the service answered with a JSON object, and it (or why not, under `error`)."""
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"not an http(s) URL: {url}")
    data = None if query is None else json.dumps(query).encode()
    headers = {"content-type": "application/json"}
    request = urllib.request.Request(url, data, headers)  # noqa: S310 - http(s), checked above
    try:
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT) as response:  # noqa: S310
            body = json.loads(response.read())
    except urllib.error.HTTPError as error:
        return False, {"error": f"HTTP {error.code}"}
    except (OSError, ValueError) as error:
        return False, {"error": f"{type(error).__name__}: {error}"}
    return (True, body) if isinstance(body, dict) else (False, {"error": "not a JSON object"})


def pypi_answers(pin: Pin, base_url: str = PYPI_URL) -> tuple[bool, str]:
    # pip-audit reads the `vulnerabilities` field of each release's JSON, not the project's.
    answered, body = _answer(f"{base_url}/{pin.name}/{pin.version}/json")
    if answered and "vulnerabilities" not in body:
        return False, "no vulnerabilities field"
    return answered, str(body.get("error", "answered"))


def osv_answers(pin: Pin, url: str = OSV_URL) -> tuple[bool, str]:
    query = {"package": {"name": pin.name, "ecosystem": "PyPI"}, "version": str(pin.version)}
    answered, body = _answer(url, query)
    return answered, str(body.get("error", "answered"))


def choose_source(requirements: Path, osv_url: str) -> tuple[str, str]:
    """The source `auto` audits against, and the probes' answers that chose it."""
    first = next((item for item in _requirements(requirements) if isinstance(item, Pin)), None)
    if first is None:
        return "snapshot", "no pin to ask about"
    pypi, pypi_why = pypi_answers(first)
    if pypi:
        return "pypi", f"PyPI answered for {first}"
    osv, osv_why = osv_answers(first, osv_url)
    if osv:
        return "osv", f"PyPI: {pypi_why} for {first}; OSV answered"
    return "snapshot", f"PyPI: {pypi_why} for {first}; OSV: {osv_why}"


def _requirements(path: Path) -> list[Pin | str]:
    return list(read_pins(path.read_text().splitlines()))


def pip_audit(requirements: Path, source: str, osv_url: str) -> int:
    service = ["--vulnerability-service", "osv", "--osv-url", osv_url] if source == "osv" else []
    command = [sys.executable, "-m", "pip_audit", "--requirement", str(requirements)]
    # --no-deps: the file pins every package already; --disable-pip: nothing is installed.
    # --strict: a pin the service could not answer for fails the audit.
    options = ["--no-deps", "--disable-pip", "--strict", "--progress-spinner", "off"]
    return subprocess.run([*command, *options, *service], check=False).returncode


def snapshot_audit(requirements: Path, directory: Path) -> int:
    snapshot = load_snapshot(directory)
    print(
        f"Snapshot: {directory} = pypa/advisory-database {snapshot.commit[:12]}"
        f" of {snapshot.committed}: {len(snapshot.packages)} packages looked up,"
        f" {snapshot.record_count} advisories; later advisories are not in it."
    )
    result = audit(_requirements(requirements), snapshot)
    print(report(result))
    return 1 if result.findings or result.unchecked else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-r", "--requirement", type=Path, default=Path("requirements.lock"))
    parser.add_argument(
        "-s", "--source", choices=("auto", "pypi", "osv", "snapshot"), default="auto"
    )
    parser.add_argument("--osv-url", default=OSV_URL)
    parser.add_argument("--snapshot", type=Path, default=Path("scripts/advisories"))
    args = parser.parse_args(argv)
    source, why = args.source, "asked for"
    if source == "auto":
        source, why = choose_source(args.requirement, args.osv_url)
    names = {"pypi": "PyPI (pip-audit)", "osv": f"OSV at {args.osv_url} (pip-audit)"}
    print(f"Source: {names.get(source, 'the vendored snapshot')} ({why})", flush=True)
    if source == "snapshot":
        return snapshot_audit(args.requirement, args.snapshot)
    return pip_audit(args.requirement, source, args.osv_url)


if __name__ == "__main__":
    sys.exit(main())
