"""The bench's statement profile: an embedded PostgreSQL started with the preload settings
ranks the statements a run executed, per attempt.

The failure this guards against: a profile that silently ranks nothing (the module not loaded,
or the statistics of a database other than the one the work went to), leaving the benchmark's
"where the time goes" unsaid.
"""

from pathlib import Path

import asyncpg

from bench.statements import PRELOAD_SETTINGS, StatementProfile
from devtools.embedded import EmbeddedPostgres


async def test_a_run_s_statements_are_ranked_per_attempt(tmp_path: Path) -> None:
    postgres = EmbeddedPostgres(tmp_path / "postgres", settings=PRELOAD_SETTINGS).start()
    try:
        out = tmp_path / "run-statements.txt"
        profile = StatementProfile(postgres.url, out)
        connection = await asyncpg.connect(postgres.url)
        try:
            await connection.execute("CREATE TABLE marks (n int)")
            await profile.start()  # what came before is not the run's
            for n in range(40):
                await connection.execute("INSERT INTO marks VALUES ($1)", n)
            await connection.fetchval("SELECT count(*) FROM marks")
            # A scenario working in a database of its own is ranked beside the system's.
            await connection.execute("CREATE DATABASE scenario_own")
            own = await asyncpg.connect(postgres.url.rsplit("/", 1)[0] + "/scenario_own")
            try:
                for n in range(3):
                    await own.execute("SELECT pg_sleep(0.01 * $1)", n)
            finally:
                await own.close()
        finally:
            await connection.close()
        await profile.write(attempts=20)
    finally:
        postgres.stop()

    lines = out.read_text().splitlines()
    assert lines[0].startswith("20 attempts recorded in the run")
    inserts = [line for line in lines if "INSERT INTO marks" in line]
    assert len(inserts) == 1
    calls, per_attempt = (cell.strip() for cell in inserts[0].split("|")[:2])
    assert (calls, per_attempt) == ("40", "2.00")
    assert not any("CREATE TABLE marks" in line for line in lines)
    [count] = [line for line in lines if "SELECT count(*) FROM marks" in line]
    assert count.split("|")[7].strip() == "1.0"  # rows per call
    [sleeps] = [line for line in lines if "pg_sleep" in line]
    assert [cell.strip() for cell in sleeps.split("|")][0::6][:2] == ["3", "scenario_own"]


async def test_a_server_without_the_module_says_so(tmp_path: Path) -> None:
    postgres = EmbeddedPostgres(tmp_path / "postgres").start()
    try:
        out = tmp_path / "run-statements.txt"
        profile = StatementProfile(postgres.url, out)
        await profile.start()
        await profile.write(attempts=1)
    finally:
        postgres.stop()
    assert out.read_text() == "pg_stat_statements is not loaded on this server\n"
