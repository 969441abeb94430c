"""Starting worker processes together on one schedule, and collecting what they measured."""

import asyncio
import sys
import time
from collections.abc import Mapping, Sequence

import msgspec

from bench.workers.protocol import Window, WorkerResult, WorkerSpec

# Time for worker processes to import, connect and wait at the start line together.
START_LEAD_SECONDS = 3.0
# A run where more requests than this failed measured refusals, not work: stop the bench.
MAX_FAILED_SHARE = 0.01


class BenchFailure(Exception):
    """A run did not measure what it claims to (too many requests failed)."""


def require_success(what: str, succeeded: int, failures: Mapping[str, int]) -> None:
    """Only successful responses count; more than a trivial share of failures is an error."""
    failed = sum(failures.values())
    total = succeeded + failed
    if total == 0 or failed / total > MAX_FAILED_SHARE:
        raise BenchFailure(f"{what}: {failed} of {total} requests failed {dict(failures)}")


def schedule(warmup: float, duration: float) -> Window:
    return Window(start_at=time.monotonic() + START_LEAD_SECONDS, warmup=warmup, duration=duration)


async def run_worker(spec: WorkerSpec) -> WorkerResult:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.workers",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    output, _ = await process.communicate(msgspec.json.encode(spec))
    if process.returncode != 0:
        raise RuntimeError(f"{type(spec).__name__} worker exited with {process.returncode}")
    return msgspec.json.decode(output, type=WorkerResult)


async def run_workers(specs: Sequence[WorkerSpec]) -> list[WorkerResult]:
    return list(await asyncio.gather(*(run_worker(spec) for spec in specs)))


def merged(results: Sequence[WorkerResult]) -> WorkerResult:
    """Workers measured the same window: counts add up, latencies pool."""
    total = WorkerResult(seconds=max((result.seconds for result in results), default=0.0))
    for result in results:
        total.completed += result.completed
        total.latencies_ms += result.latencies_ms
        total.sends += result.sends
        total.cpu_seconds += result.cpu_seconds
        for status, count in result.errors.items():
            total.errors[status] = total.errors.get(status, 0) + count
    return total


def rate(result: WorkerResult) -> float:
    return result.completed / result.seconds if result.seconds else 0.0
