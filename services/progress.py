"""A progress line for the long commands (`mastery rebuild`, `mastery verify`) on stderr.

On a terminal one line is redrawn in place (`\\r`) a few times a second; elsewhere (a log file, a
pipe, a CI job) a whole line is printed every `LOG_INTERVAL` seconds, so a log shows the rate
without drowning in redraws. Each line: done and total, the share, the rate and the ETA.
"""

import time
from collections.abc import Callable
from datetime import timedelta
from typing import TextIO

TTY_INTERVAL = 0.2  # seconds between redraws on a terminal
LOG_INTERVAL = 5.0  # seconds between lines elsewhere


class ProgressLine:
    def __init__(
        self,
        label: str,
        stream: TextIO,
        *,
        unit: str = "events",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._label, self._stream, self._unit, self._clock = label, stream, unit, clock
        self._tty = stream.isatty()
        self._interval = TTY_INTERVAL if self._tty else LOG_INTERVAL
        self._started: float | None = None
        self._shown_at: float | None = None
        self._drawn = False

    def __call__(self, done: int, total: int) -> None:
        now = self._clock()
        if self._started is None:
            self._started = now
        finished = done >= total
        if self._shown_at is not None and now - self._shown_at < self._interval and not finished:
            return
        self._shown_at = now
        self._show(self.line(done, total, now - self._started))

    def line(self, done: int, total: int, elapsed: float) -> str:
        share = f"{done / total:.0%}" if total else "100%"
        rate = done / elapsed if elapsed > 0 else 0.0
        if done >= total:
            eta = f"done in {timedelta(seconds=round(elapsed))}"
        elif rate > 0:
            eta = f"ETA {timedelta(seconds=round((total - done) / rate))}"
        else:
            eta = "ETA unknown"
        return (
            f"{self._label}: {done:,}/{total:,} {self._unit} ({share}), "
            f"{rate:,.0f} {self._unit}/s, {eta}"
        )

    def close(self) -> None:
        """End a redrawn line, so what is printed next starts on a line of its own."""
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = False

    def _show(self, text: str) -> None:
        if self._tty:
            self._stream.write(f"\r{text}\x1b[K")  # erase what a longer line left
            self._drawn = True
        else:
            self._stream.write(text + "\n")
        self._stream.flush()
