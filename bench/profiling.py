"""Sampling profiles of the service processes with py-spy, while a scenario's first run goes."""

import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def py_spy_binary() -> str:
    beside_python = Path(sys.executable).parent / "py-spy"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("py-spy")
    if found is None:
        raise FileNotFoundError("py-spy not found: install the bench extra")
    return found


class ServiceProfiles:
    """One `py-spy record` per service, writing collapsed stacks (flamegraph input) to a file."""

    def __init__(self, out_dir: Path, label: str, pids: Mapping[str, int]) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self._recorders = [
            subprocess.Popen(
                [
                    py_spy_binary(),
                    "record",
                    "--pid",
                    str(pid),
                    "--rate",
                    "200",
                    "--format",
                    "raw",
                    "--output",
                    str(out_dir / f"{label}-{service}.txt"),
                    "--nonblocking",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for service, pid in pids.items()
        ]

    def stop(self) -> None:
        for recorder in self._recorders:
            recorder.send_signal(signal.SIGINT)
        for recorder in self._recorders:
            try:
                recorder.wait(30)
            except subprocess.TimeoutExpired:
                recorder.kill()
