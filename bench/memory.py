"""Resident memory of the service processes, sampled from /proc while the scenarios run."""

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

SAMPLE_SECONDS = 0.25


def rss_mib(pid: int) -> float | None:
    """VmRSS of a live process in MiB; None once it has gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except (FileNotFoundError, ProcessLookupError):
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


@dataclass
class Checkpoint:
    """Memory of each service at a quiet moment, after a known number of appended attempts."""

    label: str
    attempts_appended: int
    rss_mib: dict[str, float]


@dataclass
class RssSampler:
    pids: Mapping[str, int]
    peaks: dict[str, float] = field(default_factory=dict)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> "RssSampler":
        self._thread = threading.Thread(target=self._sample_until_stopped, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def sample(self) -> dict[str, float]:
        current = {}
        for name, pid in self.pids.items():
            value = rss_mib(pid)
            if value is not None:
                current[name] = value
                self.peaks[name] = max(value, self.peaks.get(name, 0.0))
        return current

    def checkpoint(self, label: str, attempts_appended: int) -> None:
        self.checkpoints.append(Checkpoint(label, attempts_appended, self.sample()))

    def _sample_until_stopped(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self.sample()
