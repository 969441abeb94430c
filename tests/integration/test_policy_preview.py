"""Policy preview: a proposed policy against a standard's evidence, changing nothing."""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from services.attempts.adapters.recorder import AttemptRecorder
from services.attempts.core.recording import RecordAttempt, Refuse, VoidAttempt
from services.cli import main
from services.mastery.adapters.projector import MasteryProjector
from services.mastery.app import create_app
from services.mastery.config import MasteryConfig
from services.mastery.core.calculation import FALLBACK_POLICY
from shared.contract.cloudevents import EnvelopeCodec
from shared.contract.events.gradebook import gradebook_envelopes
from shared.platform.bus import BusNames
from shared.platform.consumer import Delivered
from tests.support.logs import logged_messages
from tests.support.roles import service_url
from tests.support.servers import Servers
from tests.support.tenants import define_standard, new_key, new_tenant

NOW = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)
_gradebook = gradebook_envelopes()
_codec: EnvelopeCodec[Any] = _gradebook

# Scores on the 1-4 scale, oldest first; "v" after a score voids that attempt.
# Under `latest` now, `average` proposed:
HAND_WORKED = {
    "s1": ["4", "2"],  # 2 -> 3: gains mastery, level 2 -> 3
    "s2": ["2", "4"],  # 4 -> 3: keeps mastery, level 4 -> 3
    "s3": ["2", "1"],  # 1 -> 1.5: not mastered either way, level 1 both
    "s4": ["1", "3"],  # 3 -> 2: loses mastery, level 3 -> 2
    "s5": ["4", "1v"],  # the 1 is voided: 4 -> 4, keeps, level 4 both
}


@pytest.fixture
async def mastery(
    database_url: str, servers: Servers, bus: BusNames
) -> AsyncIterator[AsyncTestClient[Any]]:
    config = MasteryConfig(
        database_url=service_url(database_url, "mastery"),
        nats_url=servers.nats_url,
        bus_namespace=bus.namespace,
        bus_stream_replicas=1,
    )
    async with AsyncTestClient(create_app(config)) as client:
        yield client


async def _gradebook_of(pool: asyncpg.Pool, bus: BusNames, tenant: str,
                        students: dict[str, list[str]]) -> None:  # fmt: skip
    """Define `math.1` (latest), record the students' scores, void the marked ones, project."""
    await define_standard(pool, bus, tenant, "math.1")
    recorder = AttemptRecorder(pool)
    for student, scores in students.items():
        for day, score in enumerate(scores):
            attempt_id = f"{student}-q{day}"
            command = RecordAttempt(
                tenant_id=tenant, attempt_id=attempt_id, student_id=student, standard_id="math.1",
                score=float(score.rstrip("v")), assessed_at=NOW - timedelta(days=10 - day),
            )  # fmt: skip
            assert not isinstance(await recorder.record(command, now=NOW), Refuse)
            if score.endswith("v"):
                void = VoidAttempt(tenant_id=tenant, attempt_id=attempt_id, reason="wrong quiz")
                assert not isinstance(await recorder.void(void, now=NOW), Refuse)
    projector = MasteryProjector(pool, bus, FALLBACK_POLICY)
    for position, message in await logged_messages(pool, bus):
        delivered = Delivered(_gradebook.decode(message.payload), position)
        await projector.handle_gradebook_events([delivered])


# The change log keeps every change emitted.
_SNAPSHOTS = {
    "proficiencies": "SELECT tenant_id, student_id, standard_id, score, state::text FROM "
    "proficiencies ORDER BY 1, 2, 3",
    "evidence": "SELECT * FROM mastery_evidence ORDER BY tenant_id, student_id, attempt_id",
    "policies": "SELECT tenant_id, standard_id, policy::text FROM standard_policies ORDER BY 1, 2",
    "log": "SELECT position, event_id FROM attempt_log ORDER BY position",
    "changes": "SELECT count(*) FROM mastery_changes",
}


async def _snapshot(pool: asyncpg.Pool) -> dict[str, list[Any]]:
    return {name: [tuple(r) for r in await pool.fetch(sql)] for name, sql in _SNAPSHOTS.items()}


async def test_the_preview_counts_a_hand_worked_case_and_changes_nothing(
    pool: asyncpg.Pool, bus: BusNames, mastery: AsyncTestClient[Any]
) -> None:
    tenant, _ = await new_tenant(pool)
    _, read = await new_key(pool, tenant, "read")
    await _gradebook_of(pool, bus, tenant, HAND_WORKED)
    before = await _snapshot(pool)

    response = await mastery.post(
        "/v1/standards/math.1/policy-preview", json={"method": "average"}, headers=read
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["counts"] == {"students": 5, "gain": 1, "lose": 1, "keep": 2, "not_mastered": 1,
                              "level_changes": 3}  # fmt: skip
    effects = {s["student_id"]: (s["current"]["score"], s["proposed"]["score"], s["effect"])
               for s in body["students"]}  # fmt: skip
    assert effects == {
        "s1": (2, 3, "gains"), "s2": (4, 3, "keeps"), "s3": (1, 1.5, "not_mastered"),
        "s4": (3, 2, "loses"), "s5": (4, 4, "keeps"),
    }  # fmt: skip
    s1 = body["students"][0]
    assert (s1["current"]["level_label"], s1["proposed"]["level_label"]) == (
        "Developing",
        "Proficient",
    )
    assert (s1["current"]["letter"], s1["proposed"]["letter"]) == ("D", "B")
    assert body["current_policy"]["method"] == "latest"
    assert body["proposed_policy"]["letters"][0] == {"letter": "A", "min_score": 3.5}
    assert await _snapshot(pool) == before


async def test_the_preview_shows_the_parameter_in_force(
    pool: asyncpg.Pool, bus: BusNames, mastery: AsyncTestClient[Any]
) -> None:
    tenant, auth = await new_tenant(pool)
    await _gradebook_of(pool, bus, tenant, {"s1": ["2", "4"]})
    response = await mastery.post(
        "/v1/standards/math.1/policy-preview",
        json={"method": "decaying_average", "mastery_threshold": 2.5},
        headers=auth,
    )
    assert response.status_code == 200, response.text
    proposed = response.json()["proposed_policy"]
    assert (proposed["parameter"], proposed["mastery_threshold"]) == (65, 2.5)
    [student] = response.json()["students"]
    assert student["proposed"]["score"] == 3.3  # 0.35 x 2 + 0.65 x 4


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/v1/standards/nope/policy-preview", {"method": "average"}, 404, None),
        ("/v1/standards/math.1/policy-preview", {"method": "median"}, 422, "method"),
        ("/v1/standards/math.1/policy-preview", {"method": "average", "x": 1}, 422, "x"),
        ("/v1/standards/math.1/policy-preview", {"method": "n_mastery", "parameter": 11}, 422,
         "parameter"),
        ("/v1/standards/math.1/policy-preview",
         {"scale": {"levels": [{"value": 1, "label": "x", "min_score": 0}], "minimum": 0,
                    "maximum": 10}}, 422, "mastery_threshold"),
        ("/v1/standards/math.1/policy-preview", {"letters": [{"letter": "A"}]}, 422, "letters[0]"),
    ],
)  # fmt: skip
async def test_a_preview_refuses_with_a_problem(
    pool: asyncpg.Pool,
    bus: BusNames,
    mastery: AsyncTestClient[Any],
    path: str,
    body: dict[str, Any],
    status: int,
    field: str | None,
) -> None:
    tenant, auth = await new_tenant(pool)
    await _gradebook_of(pool, bus, tenant, {"s1": ["3"]})
    response = await mastery.post(path, json=body, headers=auth)
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert (response.status_code, problem["status"]) == (status, status)
    if field is not None:
        assert [error["field"] for error in problem["errors"]] == [field]


async def test_a_preview_of_thirty_students(
    pool: asyncpg.Pool,
    bus: BusNames,
    mastery: AsyncTestClient[Any],
    record_property: Callable[[str, object], None],
) -> None:
    students = {f"p{n:02}": [str(1 + n % 4), str(1 + (n * 7) % 4), str(1 + (n * 3) % 4)]
                for n in range(30)}  # fmt: skip
    tenant, auth = await new_tenant(pool)
    await _gradebook_of(pool, bus, tenant, students)
    started = time.perf_counter()
    response = await mastery.post(
        "/v1/standards/math.1/policy-preview", json={"method": "highest"}, headers=auth
    )
    record_property("preview_30_students_seconds", time.perf_counter() - started)
    assert response.status_code == 200, response.text
    counts = response.json()["counts"]
    assert counts["students"] == 30
    assert counts["lose"] == 0  # the highest score is never below the latest
    assert counts["gain"] + counts["keep"] + counts["not_mastered"] == 30


async def test_mastery_preview_prints_the_table_and_the_counts(
    pool: asyncpg.Pool, bus: BusNames, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant, _ = await new_tenant(pool)
    await _gradebook_of(pool, bus, tenant, HAND_WORKED)
    command = ["preview", "--tenant", tenant, "--standard", "math.1", "--method", "average",
               "--database-url", service_url(database_url, "mastery")]  # fmt: skip
    assert await asyncio.to_thread(main, command) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "standard math.1: latest (mastery at 3) -> average (mastery at 3)"
    assert lines[2].split() == ["s1", "2", "Developing", "3", "Proficient", "gains"]
    assert lines[-1] == (
        "5 students: 1 would gain mastery, 1 lose it, 2 keep it, 1 not mastered either way; "
        "3 change level"
    )
    assert await asyncio.to_thread(main, [*command, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["counts"]["lose"] == 1
    with pytest.raises(SystemExit, match="no standard 'nope'"):
        await asyncio.to_thread(main, [*command[:3], "--standard", "nope", *command[5:]])
