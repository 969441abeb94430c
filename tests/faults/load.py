"""A steady load for a fault experiment: a school of its own, its standards and guardians, and
attempts posted over HTTP at a fixed rate, bounded in count and time.

A client whose request failed (refused connection, 5xx, a stream that stayed contended) posts the
same attempt again, as a school platform would: an attempt id is safe to post twice. Only 2xx
answers count as accepted.
"""

import asyncio
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from shared.platform.tenancy import create_tenant, issue_api_key
from tests.faults.system import FaultSystem

# Two policies, so levels move both ways: `latest` follows every score, `decaying_average` lags.
STANDARDS = {"math.fractions": "latest", "ela.argument": "decaying_average"}
SCORES = (1, 1.5, 2, 2.5, 3, 3.5, 4)
START = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)


@dataclass(frozen=True)
class LoadPlan:
    attempts: int
    students: int
    rate: float  # attempts per second
    connections: int = 4
    max_seconds: float = 120.0  # the generator gives up on what is still unaccepted after this
    seed: int = 1


@dataclass
class School:
    tenant_id: str
    auth: dict[str, str]
    guardians: dict[str, str]  # student -> the one guardian's address


@dataclass
class LoadResult:
    accepted: set[str] = field(default_factory=set)
    sent: int = 0
    failures: Counter[str] = field(default_factory=Counter)  # per status or error, retried
    refused: dict[str, str] = field(default_factory=dict)  # a 4xx other than 409 contention
    unanswered: set[str] = field(default_factory=set)  # never accepted within the time bound


async def open_school(system: FaultSystem, name: str, students: int) -> School:
    """A tenant with a key, the standards, and one guardian per student (set before any attempt,
    so every change has its guardian)."""
    tenant_id = f"{name}-{uuid.uuid4().hex[:8]}"
    connection = await system.connect()
    try:
        await create_tenant(connection, tenant_id, name)
        key = await issue_api_key(connection, tenant_id, label="fault load", scope="admin")
    finally:
        await connection.close()
    school = School(tenant_id, {"Authorization": f"Bearer {key.plaintext}"}, {})
    attempts, notify = system.services["attempts"].url, system.services["notify"].url
    for standard, method in STANDARDS.items():
        body = {"title": standard, "method": method}
        await _put(system.http, f"{attempts}/v1/standards/{standard}", body, school.auth)
    for number in range(students):
        student = f"s{number:04d}"
        address = f"guardian-{student}@{tenant_id}.example.org"
        guardians = {"guardians": [{"email": address, "name": f"Guardian of {student}"}]}
        await _put(system.http, f"{notify}/v1/students/{student}/guardians", guardians, school.auth)
        school.guardians[student] = address
    return school


async def _put(client: httpx.AsyncClient, url: str, body: object, auth: dict[str, str]) -> None:
    response = await client.put(url, json=body, headers=auth)
    assert response.status_code in (200, 201), f"PUT {url}: {response.status_code} {response.text}"


def planned_attempts(plan: LoadPlan) -> list[dict[str, Any]]:
    """Attempts spread over the students and standards; most assessed after the stream's newest,
    some earlier (late evidence), a few missing-work markers."""
    rng = random.Random(plan.seed)
    assessed: Counter[tuple[int, str]] = Counter()
    bodies = []
    for number in range(plan.attempts):
        student, standard = rng.randrange(plan.students), rng.choice(list(STANDARDS))
        assessed[(student, standard)] += 1
        day = assessed[(student, standard)] - (rng.randrange(1, 4) if rng.random() < 0.1 else 0)
        body: dict[str, Any] = {
            "attempt_id": f"a{plan.seed}-{number:05d}",
            "student_id": f"s{student:04d}",
            "standard_id": standard,
            "assessed_at": (START + timedelta(days=day, minutes=number % 600)).isoformat(),
        }
        if rng.random() < 0.04:
            body["status"] = "missing"
        else:
            body.update(score=rng.choice(SCORES), points_possible=4)
        bodies.append(body)
    return bodies


async def run_load(system: FaultSystem, school: School, plan: LoadPlan) -> LoadResult:
    """Post the plan's attempts at its rate on a few connections; retry what failed."""
    result, queue = LoadResult(), asyncio.Queue[tuple[float, dict[str, Any]]]()
    started = time.monotonic()
    for index, body in enumerate(planned_attempts(plan)):
        queue.put_nowait((started + index / plan.rate, body))
    deadline = started + plan.max_seconds
    urls = [f"{process.url}/v1/attempts" for process in system.instances_of("attempts")]
    async with httpx.AsyncClient(timeout=10, headers=school.auth) as client:
        senders = [
            _sender(client, Balancer(urls, number), queue, result, deadline)
            for number in range(plan.connections)
        ]
        await asyncio.gather(*senders)
    return result


class Balancer:
    """Several instances of attempts behind one address, as a load balancer puts them: each
    connection starts on its own instance and moves to the next when a request fails."""

    def __init__(self, urls: list[str], first: int) -> None:
        self._urls, self._index = urls, first % len(urls)

    @property
    def url(self) -> str:
        return self._urls[self._index]

    def failed(self) -> None:
        self._index = (self._index + 1) % len(self._urls)


async def _sender(
    client: httpx.AsyncClient,
    balancer: Balancer,
    queue: asyncio.Queue[tuple[float, dict[str, Any]]],
    result: LoadResult,
    deadline: float,
) -> None:
    while not queue.empty():
        due, body = queue.get_nowait()
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        await _post_until_answered(client, balancer, body, result, deadline)


async def _post_until_answered(
    client: httpx.AsyncClient,
    balancer: Balancer,
    body: dict[str, Any],
    result: LoadResult,
    deadline: float,
) -> None:
    attempt_id, pause = body["attempt_id"], 0.1
    while time.monotonic() < deadline:
        result.sent += 1
        try:
            response = await client.post(balancer.url, json=body)
        except httpx.HTTPError as error:
            result.failures[type(error).__name__] += 1
        else:
            if response.is_success:
                result.accepted.add(attempt_id)
                return
            if _final(response):
                result.refused[attempt_id] = f"{response.status_code} {response.text[:300]}"
                return
            result.failures[str(response.status_code)] += 1
        balancer.failed()
        await asyncio.sleep(pause)
        pause = min(pause * 2, 2.0)
    result.unanswered.add(attempt_id)


def _final(response: httpx.Response) -> bool:
    """A refusal to keep; a rate limit, a contended stream or a 5xx is worth sending again."""
    if response.status_code >= 500 or response.status_code == 429:
        return False
    return "stream-contended" not in response.text
