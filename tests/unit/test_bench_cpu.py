"""The bench's CPU accounting: a server's CPU counts its children (PostgreSQL's backends)."""

import os
import subprocess
import sys

from bench.cpu import cpu_shares, snapshot

BURN = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"


def test_a_tree_counts_the_cpu_of_its_children_and_a_process_alone_does_not() -> None:
    me = os.getpid()
    before = snapshot({"alone": me}, {"tree": me})

    subprocess.run([sys.executable, "-c", BURN], check=True)  # a child, reaped when it ends

    after = snapshot({"alone": me}, {"tree": me})
    child = (after.processes["tree"] - before.processes["tree"]) - (
        after.processes["alone"] - before.processes["alone"]
    )
    assert child >= 0.25  # the child's 0.3 s, at clock-tick resolution
    assert set(cpu_shares(before, after)) == {
        "alone cpu % of a core",
        "tree cpu % of a core",
        "machine busy %",
    }
