"""The progress line of `mastery rebuild` and `mastery verify`: redrawn on a terminal, periodic
whole lines elsewhere, each with the rate and the ETA."""

import io

from services.progress import LOG_INTERVAL, ProgressLine


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_off_a_terminal_it_prints_a_whole_line_every_interval_and_at_the_end() -> None:
    out, clock = io.StringIO(), Clock()
    progress = ProgressLine("rebuild", out, clock=clock)
    progress(0, 1_000_000)
    clock.now += 1
    progress(50_000, 1_000_000)  # within the interval: nothing
    clock.now += LOG_INTERVAL
    progress(250_000, 1_000_000)
    clock.now += 2
    progress(1_000_000, 1_000_000)  # the end is always shown
    progress.close()
    assert out.getvalue().splitlines() == [
        "rebuild: 0/1,000,000 events (0%), 0 events/s, ETA unknown",
        "rebuild: 250,000/1,000,000 events (25%), 41,667 events/s, ETA 0:00:18",
        "rebuild: 1,000,000/1,000,000 events (100%), 125,000 events/s, done in 0:00:08",
    ]


def test_on_a_terminal_it_redraws_one_line_and_ends_it() -> None:
    out, clock = Terminal(), Clock()
    progress = ProgressLine("verify", out, clock=clock)
    progress(0, 10)
    clock.now += 1
    progress(5, 10)
    progress(6, 10)  # too soon to redraw
    clock.now += 1
    progress(10, 10)
    progress.close()
    text = out.getvalue()
    assert text.count("\r") == 3
    assert "\n" not in text[:-1]
    assert text.endswith("verify: 10/10 events (100%), 5 events/s, done in 0:00:02\x1b[K\n")
    assert "ETA 0:00:01" in text  # 5 of 10 after a second
