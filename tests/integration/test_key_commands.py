"""`mastery keys create | list | revoke | rotate` against real PostgreSQL, through the CLI."""

import asyncio
import uuid

import asyncpg
import pytest

from services.cli import main
from shared.platform.tenancy import ApiKey, key_for


def _run(capsys: pytest.CaptureFixture[str], database_url: str, *argv: str) -> list[str]:
    assert main([*argv, "--database-url", database_url]) == 0
    return capsys.readouterr().out.strip().splitlines()


def _issued(lines: list[str]) -> tuple[str, str]:
    """(key id, plaintext key) from what `keys create` or `keys rotate` printed."""
    plaintext = lines[-1].removeprefix("API key: ")
    return plaintext.split("_")[1], plaintext


def _create(
    capsys: pytest.CaptureFixture[str], database_url: str, tenant: str, scope: str, label: str = ""
) -> tuple[str, str]:
    return _issued(_run(capsys, database_url, "keys", "create", "--tenant", tenant,
                        "--scope", scope, "--label", label))  # fmt: skip


async def _key_for(database_url: str, presented: str) -> ApiKey | None:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        return await key_for(pool, presented)
    finally:
        await pool.close()


def _verified(database_url: str, presented: str) -> ApiKey | None:
    return asyncio.run(_key_for(database_url, presented))


@pytest.fixture
def tenant(database_url: str, capsys: pytest.CaptureFixture[str]) -> str:
    tenant_id = f"district-{uuid.uuid4().hex[:6]}"
    _run(capsys, database_url, "tenants", "create", tenant_id)
    return tenant_id


def test_create_issues_a_key_with_its_scope_and_label(
    database_url: str, tenant: str, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = _run(capsys, database_url, "keys", "create", "--tenant", tenant, "--scope", "ingest",
                 "--label", "SIS sync")  # fmt: skip
    key_id, plaintext = _issued(lines)
    assert lines[0] == f"key {key_id} for tenant {tenant}, scope ingest, label 'SIS sync'"
    assert _verified(database_url, plaintext) == ApiKey(
        key_id=key_id, tenant_id=tenant, scope="ingest", label="SIS sync"
    )


def test_a_scope_outside_the_three_is_refused(database_url: str, tenant: str) -> None:
    with pytest.raises(SystemExit):
        main(["keys", "create", "--tenant", tenant, "--scope", "write",
              "--database-url", database_url])  # fmt: skip


def test_list_shows_each_key_of_the_tenant_but_never_a_secret(
    database_url: str, tenant: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ingest_id, ingest_key = _create(capsys, database_url, tenant, "ingest", "SIS sync")
    read_id, read_key = _create(capsys, database_url, tenant, "read")
    _run(capsys, database_url, "keys", "revoke", read_id)

    lines = _run(capsys, database_url, "keys", "list", "--tenant", tenant)
    assert lines[0].split() == ["KEY", "ID", "SCOPE", "CREATED", "REVOKED", "LABEL"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) == {ingest_id, read_id}
    assert rows[ingest_id][1] == "ingest"
    assert rows[ingest_id][3] == "-"
    assert rows[ingest_id][4:] == ["SIS", "sync"]
    assert rows[read_id][1] == "read"
    assert rows[read_id][3] != "-"  # when it was revoked
    output = "\n".join(lines)
    for plaintext in (ingest_key, read_key):
        assert plaintext.split("_", 2)[2] not in output


def test_revoke_refuses_the_key_and_says_when(
    database_url: str, tenant: str, capsys: pytest.CaptureFixture[str]
) -> None:
    key_id, plaintext = _create(capsys, database_url, tenant, "read")
    assert _verified(database_url, plaintext) is not None
    [line] = _run(capsys, database_url, "keys", "revoke", key_id)
    assert line.startswith(f"key {key_id} revoked at ")
    assert _verified(database_url, plaintext) is None
    # Revoking again changes nothing and names the first revocation.
    assert _run(capsys, database_url, "keys", "revoke", key_id) == [line]
    with pytest.raises(SystemExit, match="no key"):
        main(["keys", "revoke", "nosuchkey", "--database-url", database_url])


def test_rotate_issues_a_like_key_and_revokes_the_old_one(
    database_url: str, tenant: str, capsys: pytest.CaptureFixture[str]
) -> None:
    old_id, old_key = _create(capsys, database_url, tenant, "ingest", "grader")
    lines = _run(capsys, database_url, "keys", "rotate", old_id)
    new_id, new_key = _issued(lines)
    assert lines[0] == f"key {old_id} revoked; replaced by:"
    assert [line for line in lines if line.startswith("API key: ")] == [f"API key: {new_key}"]
    assert new_id != old_id
    assert _verified(database_url, old_key) is None
    assert _verified(database_url, new_key) == ApiKey(
        key_id=new_id, tenant_id=tenant, scope="ingest", label="grader"
    )
    listed = _run(capsys, database_url, "keys", "list", "--tenant", tenant)[1:]
    assert sorted(line.split()[0] for line in listed) == sorted([old_id, new_id])
    with pytest.raises(SystemExit, match="revoked already"):
        main(["keys", "rotate", old_id, "--database-url", database_url])


def test_list_for_an_unknown_tenant_is_refused(database_url: str) -> None:
    with pytest.raises(SystemExit, match="no tenant"):
        main(["keys", "list", "--tenant", "nobody", "--database-url", database_url])
