"""Where an attempt's CPU goes, by stage, from the py-spy profiles `--profile-dir` writes.

    python -m bench.stages PROFILE.txt CPU_US_PER_ATTEMPT [PROFILE.txt CPU_US_PER_ATTEMPT]

A profile (`<scenario>-attempts.txt`, py-spy's raw collapsed stacks) says which share of the
attempts process's samples each stage took; the scenario's CPU per attempt (its `attempts cpu %
of a core` note over its attempts/s, times 10,000) turns the shares into microseconds. Each
sample goes to the stage of its innermost frame that names one, so a statement's time inside the
access-log middleware counts as the statement. Given two profiles (before, after), it prints both
side by side as a Markdown table.
"""

import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

# (stage, frame prefixes): the first stage whose prefix an inner frame starts with takes the sample.
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("relay: publish to JetStream", ("OutboxRelay.",)),
    ("access log line", ("BoundLogger.info", "bind_contextvars", "unbind_contextvars")),
    ("request metrics", ("ServiceMetrics.observe_request",)),
    ("decode the body", ("json_extractor", "create_data_extractor")),
    ("authenticate (key guard)", ("BaseRouteHandler.authorize_connection",)),
    ("resolve dependencies", ("KwargsModel.resolve_dependencies",)),
    ("read statement and fold", ("_BatchContext.load",)),
    ("decide", ("_BatchContext.decide",)),
    ("append statement", ("append (services/attempts", "execute_append")),
    ("borrow and return a connection", ("tenant_connection",)),
    ("answer: encode and write", ("HTTPRouteHandler.to_response", "ASGIResponse.__call__")),
)
HTTP_STACK = "rest of the HTTP stack (uvicorn, litestar)"
OTHER = "event loop, sockets, other"


def stage_of(frames: Sequence[str]) -> str:
    for frame in reversed(frames):
        for stage, prefixes in STAGES:
            if frame.startswith(prefixes):
                return stage
    if any("litestar/" in frame or "uvicorn/protocols" in frame for frame in frames):
        return HTTP_STACK
    return OTHER


def shares(profile: Path) -> dict[str, float]:
    """Each stage's share of the profile's samples."""
    samples: Counter[str] = Counter()
    for line in profile.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        samples[stage_of(stack.split(";"))] += int(count)
    total = sum(samples.values())
    return {stage: count / total for stage, count in samples.items()}


def main(argv: Sequence[str]) -> int:
    if len(argv) not in (2, 4):
        print(__doc__, file=sys.stderr)
        return 2
    columns = [(shares(Path(argv[n])), float(argv[n + 1])) for n in range(0, len(argv), 2)]
    first = columns[0][0]
    names = sorted({name for found, _ in columns for name in found}, key=lambda n: -first.get(n, 0))
    print("| stage | " + " | ".join("µs per attempt (share)" for _ in columns) + " |")
    print("|---|" + "--:|" * len(columns))
    for name in names:
        cells = [
            f"{found.get(name, 0) * us:.0f} ({found.get(name, 0):.1%})" for found, us in columns
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("| total | " + " | ".join(f"{us:.0f}" for _, us in columns) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
