"""Each service connects as a role that can do what its code does and nothing more, and every
tenant-scoped table keeps a tenant's rows from a query that forgot to filter by tenant."""

from datetime import UTC, datetime

import asyncpg
import pytest

from devtools.embedded import SmtpSink
from services.attempts.adapters.recorder import AttemptRecorder, Recorded
from services.attempts.core.recording import RecordAttempt
from services.notify.core.unsubscribe import sign
from shared.platform.bus import BusNames
from shared.platform.postgres import create_pool
from shared.platform.roles import OWNER, SERVICE_ROLES
from shared.platform.tenant_scope import ALL_TENANTS, TENANT_SETTING, tenant_connection
from tests.support.oneroster_sample import sample_files, zipped
from tests.support.polling import eventually
from tests.support.roles import service_url
from tests.support.servers import Servers
from tests.support.system import UNSUBSCRIBE_SECRET, System, running_system
from tests.support.tenants import define_standard, new_tenant

SERVICES = tuple(SERVICE_ROLES)

# What no service may do, whichever tenant its session sees. Each would let a compromised or
# buggy service rewrite history, read the server's files or make itself more powerful.
FORBIDDEN = {
    "disable the append-only trigger": (
        "ALTER TABLE attempt_events DISABLE TRIGGER attempt_events_append_only"
    ),
    "replica mode (skips triggers)": "SET session_replication_role = replica",
    "read a server file": "SELECT pg_read_file('PG_VERSION')",
    "delete an event": "DELETE FROM attempt_events",
    "update an event": "UPDATE attempt_events SET event_type = event_type",
    "truncate the events": "TRUNCATE attempt_events",
    "drop a table": "DROP TABLE attempt_events",
    "drop its own table": "DROP TABLE notifications",
    "create a role": "CREATE ROLE intruder LOGIN SUPERUSER",
    "create a table": "CREATE TABLE intruders (id int)",
    "issue an API key": (
        "INSERT INTO api_keys (key_id, tenant_id, secret_sha256) VALUES ('k', 't', '\\x00')"
    ),
    "create a tenant": "INSERT INTO tenants (tenant_id, name) VALUES ('intruder', 'x')",
    "rewrite the roster log": "UPDATE roster_log SET event_type = event_type",
    "reset a family's delivery choice": "UPDATE guardians SET delivery = 'immediate'",
    "forget a roster person": "DELETE FROM roster_contacts",
}

# Another service's private tables, read or written (each service reads its own freely).
PRIVATE = {
    "attempts": [
        "SELECT 1 FROM proficiencies",
        "SELECT 1 FROM mastery_changes",
        "UPDATE mastery_changes_relayed SET position = 0",
        "SELECT 1 FROM guardians",
        "UPDATE notifications SET status = 'sent'",
    ],
    "mastery": [
        "SELECT 1 FROM attempt_events_relayed",
        "UPDATE attempt_events_relayed SET position = 0",
        "INSERT INTO standards (tenant_id, standard_id, definition, version) "
        "VALUES ('t', 's', '{}', 1)",
        "UPDATE tenant_policies SET version = version",
        "INSERT INTO attempt_events (tenant_id, stream_id, stream_version, event_id, "
        "event_type, data, recorded_at) VALUES ('t', 't/s/x', 1, gen_random_uuid(), 'x', '{}', "
        "now())",
        "SELECT 1 FROM guardians",
        "SELECT 1 FROM roster_contacts",
    ],
    "notify": [
        "SELECT 1 FROM attempt_events",
        "SELECT 1 FROM attempt_log",
        "SELECT 1 FROM standards",
        "SELECT 1 FROM proficiencies",
        "INSERT INTO mastery_changes (tenant_id, subject, msg_id, payload, student_id, "
        "standard_id, change_number) VALUES ('t', 's', 'm', '', 's', 's', 1)",
        "UPDATE mastery_changes_relayed SET position = 0",
        "SELECT 1 FROM roster_people",
        "SELECT 1 FROM roster_log",
        "UPDATE roster_log_relayed SET position = 0",
    ],
}

# Each service role's tables with tenant rows, as it may read them (mastery reads the log through
# its contract view).
READABLE = {
    "attempts": [
        "attempt_events", "standards", "tenant_policies",
    ],
    "mastery": [
        "attempt_log", "proficiencies", "mastery_evidence", "standard_policies",
        "tenant_default_policies", "mastery_changes", "read_model_positions",
        "applied_policy_versions", "roster_log", "roster_orgs", "roster_terms", "roster_classes",
        "roster_people", "roster_enrollments",
    ],
    "notify": [
        "guardians", "notifications", "student_names", "mail_settings", "notified_changes",
        "suppressions", "unsubscribes", "roster_contacts",
    ],
}  # fmt: skip
# Tenant rows the operator's tools write, read before the tenant is known: no wall.
WITHOUT_WALL = {"tenants", "api_keys"}


async def _connect_as(
    database_url: str, service: str, tenant: str | None = ALL_TENANTS
) -> "asyncpg.Connection[asyncpg.Record]":
    settings = {TENANT_SETTING: tenant} if tenant is not None else {}
    return await asyncpg.connect(service_url(database_url, service), server_settings=settings)


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("what", FORBIDDEN)
async def test_a_service_role_cannot_step_outside_its_grants(
    database_url: str, service: str, what: str
) -> None:
    connection = await _connect_as(database_url, service)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await connection.execute(FORBIDDEN[what])
    finally:
        await connection.close()


@pytest.mark.parametrize(
    ("service", "statement"),
    [(service, statement) for service, statements in PRIVATE.items() for statement in statements],
)
async def test_a_service_role_cannot_touch_another_services_tables(
    database_url: str, service: str, statement: str
) -> None:
    connection = await _connect_as(database_url, service)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
            await connection.execute(statement)
    finally:
        await connection.close()


async def test_service_roles_have_no_powers_and_own_nothing(pool: asyncpg.Pool) -> None:
    roles = list(SERVICE_ROLES.values())
    powerful = await pool.fetch(
        "SELECT rolname FROM pg_roles WHERE rolname = ANY($1::text[]) "
        "AND (rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls)",
        roles,
    )
    owned = await pool.fetch(
        "SELECT c.relname, pg_get_userbyid(c.relowner) AS owner FROM pg_class c "
        "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'v', 'S', 'p')"
    )
    assert powerful == []
    assert {row["owner"] for row in owned} == {OWNER}, owned


async def test_every_tenant_scoped_table_has_the_wall(pool: asyncpg.Pool) -> None:
    rows = await pool.fetch(
        "SELECT c.relname, c.relrowsecurity FROM pg_class c "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' "
        "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'"
    )
    walled = {row["relname"]: row["relrowsecurity"] for row in rows}
    assert set(walled) >= {table for tables in READABLE.values() for table in tables} - {
        "attempt_log"
    }
    assert {table for table, wall in walled.items() if not wall} == WITHOUT_WALL
    view = await pool.fetchval(
        "SELECT reloptions FROM pg_class WHERE relname = 'attempt_log' AND relkind = 'v'"
    )
    assert "security_invoker=true" in view


@pytest.fixture
async def two_schools(
    pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames, smtp_sink: SmtpSink
) -> tuple[str, str]:
    """Two tenants with a row in every tenant-scoped table, written through the services."""
    tenants = [await new_tenant(pool, prefix) for prefix in ("a", "b")]
    # Refused for good, so each school's suppression list gets a row too.
    smtp_sink.refuse("family@example.org", "550 5.1.1 no such user")
    async with running_system(database_url, servers.nats_url, smtp_sink.url, bus) as system:
        for tenant, auth in tenants:
            await _fill(system, auth)
            await _unsubscribe(system, tenant)
        await eventually(
            lambda: pool.fetchval("SELECT count(DISTINCT tenant_id) FROM suppressions"),
            lambda count: count == 2,
        )
        # Notify's copy of the roster follows the import over the bus.
        await eventually(
            lambda: pool.fetchval("SELECT count(DISTINCT tenant_id) FROM roster_contacts"),
            lambda count: count == 2,
        )
    return tenants[0][0], tenants[1][0]


async def _fill(system: System, auth: dict[str, str]) -> None:
    responses = [
        await system.attempts.put("/v1/policy", json={"method": "latest"}, headers=auth),
        await system.attempts.put("/v1/standards/sci.energy", json={"title": "E"}, headers=auth),
        await system.notify.put(
            "/v1/students/sam/guardians",
            json={"guardians": [{"email": "family@example.org"}]},
            headers=auth,
        ),
        await system.notify.put("/v1/students/sam", json={"display_name": "Sam"}, headers=auth),
        await system.notify.put(
            "/v1/mail-settings",
            json={"time_zone": "UTC", "grace_seconds": 0, "quiet_hours": None},
            headers=auth,
        ),
        await system.attempts.post(
            "/v1/attempts",
            json={
                "attempt_id": "exit-1", "student_id": "sam", "standard_id": "sci.energy",
                "score": 4, "assessed_at": "2026-10-05T10:00:00Z",
            },
            headers=auth,
        ),
        # A row in each roster table and the roster log.
        await system.mastery.post(
            "/v1/rosters/oneroster", content=zipped(sample_files(classes=1, students=1)),
            headers={**auth, "Content-Type": "application/zip"},
        ),
    ]  # fmt: skip
    assert all(response.status_code in (200, 201) for response in responses), responses


async def _unsubscribe(system: System, tenant: str) -> None:
    # Not the guardian of `_fill`, whose refused email fills the suppressions.
    token = sign(UNSUBSCRIBE_SECRET.encode(), tenant, "former@example.org")
    answer = await system.notify.post(
        f"/v1/unsubscribe/{token}",
        content="List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 204


async def _tenants_seen(connection: asyncpg.Connection, table: str) -> set[str]:
    rows = await connection.fetch(f"SELECT DISTINCT tenant_id FROM {table}")
    return {row["tenant_id"] for row in rows}


@pytest.mark.parametrize("service", SERVICES)
async def test_a_query_without_its_tenant_filter_sees_only_the_tenant_set(
    database_url: str, two_schools: tuple[str, str], service: str
) -> None:
    school_a, school_b = two_schools
    # Outbox rows are gone once published; the wall on the outboxes is checked by table above.
    seen: dict[str, dict[str | None, set[str]]] = {}
    for tenant in (school_a, None, ALL_TENANTS):
        connection = await _connect_as(database_url, service, tenant)
        try:
            for table in READABLE[service]:
                if "outbox" not in table:
                    seen.setdefault(table, {})[tenant] = await _tenants_seen(connection, table)
        finally:
            await connection.close()
    for table, by_setting in seen.items():
        assert by_setting == {
            school_a: {school_a},
            None: set(),
            ALL_TENANTS: {school_a, school_b},
        }, table


async def test_a_service_cannot_write_a_row_of_a_tenant_it_is_not_set_to(
    database_url: str, two_schools: tuple[str, str]
) -> None:
    school_a, school_b = two_schools
    connection = await _connect_as(database_url, "attempts", school_a)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
            await connection.execute(
                "INSERT INTO tenant_policies (tenant_id, policy, version) VALUES ($1, '{}', 9)",
                school_b,
            )
        changed = await connection.execute(
            "UPDATE tenant_policies SET version = version + 1 WHERE tenant_id = $1", school_b
        )
    finally:
        await connection.close()
    assert changed == "UPDATE 0"


async def test_a_borrow_that_names_no_tenant_sees_nothing_after_one_that_did(
    database_url: str, two_schools: tuple[str, str]
) -> None:
    """The request pool keeps the setting on the connection between borrows; a borrow that does
    not name its tenant (`pool.fetch`) must not inherit the previous borrower's."""
    school_a, _ = two_schools
    pool = await create_pool(service_url(database_url, "notify"), min_size=1, max_size=1)
    try:
        async with tenant_connection(pool, school_a) as connection:
            named = await connection.fetchval("SELECT count(*) FROM guardians")
        unnamed = await pool.fetchval("SELECT count(*) FROM guardians")
        async with tenant_connection(pool, school_a) as connection:
            named_again = await connection.fetchval("SELECT count(*) FROM guardians")
    finally:
        await pool.close()
    # The guardian set through the API and the roster's (its sample student has one).
    assert (named, unnamed, named_again) == (2, 0, 2)


async def test_naming_the_tenant_a_connection_already_has_costs_no_statement(
    pool: asyncpg.Pool, database_url: str, bus: BusNames
) -> None:
    """The ingest path stays at its two statements (read, then append) per request; only a
    borrow for another tenant than the connection's last adds one, `set_config`."""
    schools = [(await new_tenant(pool, prefix))[0] for prefix in ("a", "b")]
    for school in schools:
        await define_standard(pool, bus, school, "sci.energy")
    requests = await create_pool(service_url(database_url, "attempts"), min_size=1, max_size=1)
    statements: list[str] = []
    try:
        async with requests.acquire() as connection:
            connection.add_query_logger(lambda logged: statements.append(logged.query))
        recorder = AttemptRecorder(requests)
        for n, school in enumerate([schools[0], schools[0], schools[1]]):
            statements.clear()
            recorded = await recorder.record(_attempt(school, f"exit-{n}"), now=datetime.now(UTC))
            assert isinstance(recorded, Recorded), recorded
            if n == 0:
                continue  # the connection's first tenant
            setting = [query for query in statements if "set_config" in query]
            assert (len(statements), len(setting)) == ((2, 0) if n == 1 else (3, 1)), statements
    finally:
        await requests.close()


def _attempt(tenant_id: str, attempt_id: str) -> RecordAttempt:
    return RecordAttempt(
        tenant_id=tenant_id, attempt_id=attempt_id, student_id="sam", standard_id="sci.energy",
        score=3, assessed_at=datetime(2026, 10, 5, tzinfo=UTC),
    )  # fmt: skip
