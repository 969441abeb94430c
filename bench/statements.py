"""Which statements PostgreSQL spent its time on while a scenario's first run went.

With `--profile-dir`, the bench's embedded PostgreSQL loads `pg_stat_statements`; each scenario's
first run starts from a reset, and `<scenario>-statements.txt` lists the statements of every
database by total execution time: calls, total ms, mean µs, both per attempt recorded in the
run, and the database (the system's, or the one a scenario works in of its own). The database
server's own CPU is most of an attempt's cost (see docs/benchmarks.md), and this says which of our
statements it goes to. A server named by DATABASE_URL is profiled the same way when it already
loads the module; otherwise the file says it is missing.
"""

from pathlib import Path

import asyncpg

PRELOAD_SETTINGS = (
    "shared_preload_libraries=pg_stat_statements",
    "pg_stat_statements.track=all",
    "pg_stat_statements.max=1000",
    "track_io_timing=on",
)
TOP = 30


class StatementProfile:
    """`start()` resets the statistics; `write(attempts)` writes the ranking."""

    def __init__(self, admin_url: str, out_file: Path) -> None:
        self._admin_url = admin_url
        self._out_file = out_file
        self._available = False

    async def start(self) -> None:
        connection = await asyncpg.connect(self._admin_url)
        try:
            loaded = await connection.fetchval("SHOW shared_preload_libraries")
            self._available = "pg_stat_statements" in str(loaded)
            if self._available:
                await connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                await connection.execute("SELECT pg_stat_statements_reset()")
        finally:
            await connection.close()

    async def write(self, attempts: int) -> None:
        self._out_file.parent.mkdir(parents=True, exist_ok=True)
        if not self._available:
            self._out_file.write_text("pg_stat_statements is not loaded on this server\n")
            return
        connection = await asyncpg.connect(self._admin_url)
        try:
            rows = await connection.fetch(
                # The read time's column was renamed in PostgreSQL 17.
                "SELECT s.calls, s.total_exec_time, s.rows, s.shared_blks_read, coalesce("
                "(to_jsonb(s) ->> 'shared_blk_read_time')::float8, "
                "(to_jsonb(s) ->> 'blk_read_time')::float8, 0) AS read_ms, "
                "s.query, coalesce(d.datname, '?') AS database "
                "FROM pg_stat_statements s LEFT JOIN pg_database d ON d.oid = s.dbid "
                "ORDER BY s.total_exec_time DESC LIMIT $1",
                TOP,
            )
        finally:
            await connection.close()
        self._out_file.write_text(ranking(rows, max(attempts, 1)))


def ranking(rows: list[asyncpg.Record], attempts: int) -> str:
    total = sum(row["total_exec_time"] for row in rows) or 1.0
    lines = [
        f"{attempts} attempts recorded in the run; execution time of the top {len(rows)} "
        f"statements {total:.0f} ms ({total * 1000 / attempts:.1f} µs per attempt)",
        "",
        "calls | per attempt | total ms | share | mean µs | µs per attempt | database "
        "| rows per call | blocks read per call | read ms per call | query",
    ]
    for row in rows:
        query = " ".join(str(row["query"]).split())
        calls = max(row["calls"], 1)
        lines.append(
            f"{row['calls']} | {row['calls'] / attempts:.2f} | {row['total_exec_time']:.0f} | "
            f"{row['total_exec_time'] / total:.1%} | "
            f"{row['total_exec_time'] * 1000 / max(row['calls'], 1):.0f} | "
            f"{row['total_exec_time'] * 1000 / attempts:.1f} | {row['database']} | "
            f"{row['rows'] / calls:.1f} | {row['shared_blks_read'] / calls:.1f} | "
            f"{row['read_ms'] / calls:.2f} | {query[:400]}"
        )
    return "\n".join(lines) + "\n"
