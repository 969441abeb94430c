"""`mastery notify preview` renders exactly what the guardian receives: the golden copies."""

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import msgspec
import pytest

from services.cli import main
from services.notify.adapters import family, store
from services.notify.adapters.composer import compose_due
from services.notify.adapters.planner import plan_emails
from services.notify.adapters.rendering import Renderer
from services.notify.core.messages import Email, Guardian
from services.notify.core.storms import StormSettings
from tests.support.family_email import (
    CHANGE,
    REPORT,
    SETTINGS,
    STUDENT_NAME,
    UNSUBSCRIBE_URL,
)
from tests.support.roles import service_url

GOLDEN = Path(__file__).resolve().parent.parent / "data" / "golden"


def _golden(name: str) -> str:
    """A golden copy as planned without an unsubscribe or report link (no secrets here): the
    link's line left out (in text, with the blank line before it and the report's note after)."""
    text = name.endswith(".txt")
    keep: list[str] = []
    note_follows = False
    for line in (GOLDEN / name).read_text(encoding="utf-8").split("\n"):
        if note_follows:
            note_follows = False
        elif REPORT.url in line and text:
            keep.pop()  # the blank line before it
            note_follows = True
        elif UNSUBSCRIBE_URL not in line and REPORT.url not in line:
            keep.append(line)
    joined = "\n".join(keep)
    return joined.removesuffix("\n\n") + "\n" if text else joined


async def _received(url: str, tenant: str) -> Email:
    """Notify has received two changes of noah's on fractions, and planned the newer one."""
    connection = await asyncpg.connect(url, server_settings={"app.tenant_id": tenant})
    try:
        await family.set_student_name(connection, tenant, "noah", STUDENT_NAME)
        await family.set_settings(connection, tenant, SETTINGS)
        guardian = Guardian(email="rosa@example.org", name="Rosa", language="es")
        await store.replace_guardians(connection, tenant, "noah", [guardian])
        older = msgspec.structs.replace(
            CHANGE,
            tenant_id=tenant,
            change_id="c0",
            changed_at=CHANGE.changed_at.replace(day=1, hour=1),
            level_label="Old",
        )
        latest = msgspec.structs.replace(CHANGE, tenant_id=tenant)
        for change in (latest, older):
            await family.keep_change(connection, change)
        planned = await plan_emails(connection, latest)
        assert [email.guardian for email in planned] == [guardian]
        await store.enqueue_emails(connection, latest, planned)
    finally:
        await connection.close()
    return await _composed(url, tenant, guardian.email)


async def _composed(url: str, tenant: str, address: str) -> Email:
    """The planned row once the composer wrote it: what the mailer sends."""
    pool = await asyncpg.create_pool(url, server_settings={"app.tenant_id": tenant})
    try:
        now = datetime.now(UTC) + timedelta(minutes=1)
        assert await compose_due(pool, Renderer(), now, 10, StormSettings()) == 1
        row = await pool.fetchrow(
            "SELECT subject, body, html, language FROM notifications WHERE composed "
            "AND guardian_email = $1 AND status = 'pending'",
            address,
        )
    finally:
        await pool.close()
    assert row is not None
    return Email(to=address, **dict(row))


@pytest.mark.parametrize("language", ["es", "en"])
def test_the_preview_is_the_planned_email_and_its_golden_copy(
    database_url: str, language: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = service_url(database_url, "notify")
    planned = asyncio.run(_received(url, "school"))
    html = tmp_path / "email.html"
    argv = ["notify", "preview", "--student", "noah", "--standard", "math.fractions",
            "--database-url", url, "--html-out", str(html)]  # fmt: skip
    assert main([*argv, "--language", language]) == 0
    out = capsys.readouterr().out
    golden = _golden(f"change_{language}.txt")
    subject, _, body = golden.partition("\n\n")
    assert out == f"{subject}\nContent-Language: {language}\n\n{body}"
    assert html.read_text(encoding="utf-8") == _golden(f"change_{language}.html")
    if language == "es":  # without --language: the guardian's, as the composer wrote it
        assert main(argv) == 0
        assert capsys.readouterr().out == out
        assert (planned.subject, planned.language) == (subject.removeprefix("Subject: "), "es")
        assert (planned.body, planned.html) == (body, html.read_text(encoding="utf-8"))


def test_the_preview_says_when_there_is_no_change(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = service_url(database_url, "notify")
    argv = ["notify", "preview", "--student", "nobody", "--standard", "math.fractions"]
    with pytest.raises(SystemExit, match="no change of 'nobody'"):
        main([*argv, "--database-url", url])
