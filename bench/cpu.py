"""Where the CPU went during a measurement: each service process, and the machine as a whole."""

import asyncio
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of one process; 0 once it has gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    # After the command name: state is field 3 of stat(5); utime and stime are 14 and 15.
    return (int(fields[11]) + int(fields[12])) / _TICKS


def machine_busy_and_total() -> tuple[float, float]:
    """Busy and total CPU seconds of all cores since boot (iowait counts as idle)."""
    values = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return (total - idle) / _TICKS, total / _TICKS


@dataclass(frozen=True, slots=True)
class CpuSnapshot:
    at: float
    processes: dict[str, float]
    machine_busy: float
    machine_total: float


def snapshot(pids: Mapping[str, int], trees: Mapping[str, int] | None = None) -> CpuSnapshot:
    """CPU so far of each process in `pids`, and of each process in `trees` with its children
    (a PostgreSQL server and its backends)."""
    busy, total = machine_busy_and_total()
    processes = {name: process_cpu_seconds(pid) for name, pid in pids.items()}
    processes |= {name: process_tree_cpu_seconds(pid) for name, pid in (trees or {}).items()}
    return CpuSnapshot(time.monotonic(), processes, busy, total)


def cpu_shares(before: CpuSnapshot, after: CpuSnapshot) -> dict[str, float]:
    """Percent of one core used by each process, and percent of the whole machine busy."""
    elapsed = after.at - before.at
    shares = {
        f"{name} cpu % of a core": 100 * (after.processes[name] - used) / elapsed
        for name, used in before.processes.items()
    }
    machine_total = after.machine_total - before.machine_total
    shares["machine busy %"] = 100 * (after.machine_busy - before.machine_busy) / machine_total
    return shares


async def snapshot_at(
    moment: float, pids: Mapping[str, int], trees: Mapping[str, int] | None = None
) -> CpuSnapshot:
    delay = moment - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)
    return snapshot(pids, trees)


def process_tree_cpu_seconds(pid: int) -> float:
    """CPU of a process, of its children that have exited (reaped) and of those still running:
    a PostgreSQL server's whole use, whose backends come and go."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    # utime, stime, cutime, cstime: fields 14-17 of stat(5).
    own = sum(int(value) for value in fields[11:15]) / _TICKS
    return own + sum(process_cpu_seconds(child) for child in _children(pid))


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(stat[1]) == pid:  # field 4, ppid
            found.append(int(entry.name))
    return found


def postmaster_pid(data_dir: Path) -> int:
    """The PostgreSQL server's pid, from the first line of its cluster's postmaster.pid."""
    return int((data_dir / "cluster" / "postmaster.pid").read_text().split("\n", 1)[0])


def pid_listening_on(program: str, port: int) -> int | None:
    """The pid of `program` whose command line names `port` (the embedded nats-server)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if arguments and program.encode() in arguments[0] and str(port).encode() in arguments:
            return int(entry.name)
    return None
