"""HTTP adapter for attempts: record one or a batch, void, rescore, corrective work."""

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody

from services.attempts.adapters.event_store import StreamContended
from services.attempts.adapters.problems import problem_body, problem_for
from services.attempts.adapters.recorder import Appended, AttemptRecorder, Recorded
from services.attempts.adapters.records import attempt_record, corrective_work_record
from services.attempts.adapters.views import (
    AppendedOut,
    AttemptOnRecordOut,
    AttemptOut,
    BatchItemOut,
    BatchOut,
    CorrectiveWorkOnRecordOut,
    appended_view,
    attempt_record_view,
    attempt_view,
    corrective_work_view,
)
from services.attempts.core.recording import (
    RecordAttempt,
    RecordCorrectiveWork,
    Refuse,
    RescoreAttempt,
    VoidAttempt,
)
from shared.contract.actor import Actor
from shared.contract.grading import AttemptStatus
from shared.contract.ids import PLAIN_TEXT_PATTERN, OpaqueId
from shared.contract.timestamps import utc_instant
from shared.platform.auth import request_key, requires
from shared.platform.http import LOG_POSITION_HEADER, PathId, Problem, problem_response, uri
from shared.platform.openapi import problem
from shared.platform.tenant_scope import tenant_connection

MAX_BATCH = 1_000
Score = Annotated[
    float,
    msgspec.Meta(
        ge=0,
        le=1_000_000,
        description="Points earned, or a score on the standard's scale without points_possible.",
    ),
]
PointsPossible = Annotated[float, msgspec.Meta(gt=0, le=1_000_000)]
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=1_000, pattern=PLAIN_TEXT_PATTERN)]


class AttemptIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # In the OpenAPI document (the core refuses the same): a scored attempt (`status` left out or
    # `scored`) needs a score; a marker carries neither a score nor points_possible.
    JSON_SCHEMA_EXTRA: ClassVar[dict[str, object]] = {
        "if": {"properties": {"status": {"const": "scored"}}},
        "then": {"required": ["score"], "properties": {"score": {"type": "number"}}},
        "else": {"properties": {"score": {"type": "null"}, "points_possible": {"type": "null"}}},
    }

    attempt_id: Annotated[
        OpaqueId, msgspec.Meta(description="Chosen by the client; posting it again is safe.")
    ]
    student_id: OpaqueId
    standard_id: OpaqueId
    status: Annotated[
        AttemptStatus,
        msgspec.Meta(description="`scored`, or a marker without a score: missing work is never 0."),
    ] = "scored"
    score: Score | None = None
    points_possible: PointsPossible | None = None
    assessed_at: Annotated[
        datetime,
        msgspec.Meta(
            tz=True,
            description="When the student was assessed (RFC 3339, offset within ±14:00); "
            "stored in UTC.",
        ),
    ]

    def __post_init__(self) -> None:
        # Refused or kept in UTC here, so no offset reaches the log.
        msgspec.structs.force_setattr(
            self, "assessed_at", utc_instant("assessed_at", self.assessed_at)
        )


class BatchIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    attempts: Annotated[list[AttemptIn], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]


class VoidIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    reason: Reason


class RescoreIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    score: Score
    points_possible: PointsPossible | None = None
    reason: Reason


class CorrectiveWorkIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    work_id: Annotated[
        OpaqueId | None,
        msgspec.Meta(description="Chosen by the client for safe retries; generated if absent."),
    ] = None
    note: Annotated[str, msgspec.Meta(max_length=2_000, pattern=PLAIN_TEXT_PATTERN)] | None = None
    reference: Annotated[str, msgspec.Meta(max_length=500, pattern=PLAIN_TEXT_PATTERN)] | None = (
        None
    )


def stream_contended_handler(
    request: Request[Any, Any, Any], error: StreamContended
) -> Response[dict[str, object]]:
    """Writers kept racing for one stream past the retries: a 409 the client can retry."""
    return problem_response(
        request,
        status=409,
        slug="stream-contended",
        title="Too many concurrent writes",
        detail=f"concurrent writers kept taking the next version of stream {error}; retry",
    )


_RESPONSES = {
    403: problem("The key's scope is not `ingest` or `admin`"),
    422: problem("Invalid body; `errors` names each field"),
}


class AttemptsController(Controller):
    path = "/v1/attempts"
    tags = ["attempts"]  # noqa: RUF012

    @post(
        "/",
        status_code=201,
        opt=requires("ingest"),
        summary="Record an assessment attempt (or a missing, excused or incomplete marker)",
        responses={
            **_RESPONSES,
            200: ResponseSpec(AttemptOut, description="Already recorded with this body"),
            409: problem("attempt_id used with another body, or a reassessment rule"),
        },
    )
    async def record_attempt(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[AttemptIn],
        recorder: NamedDependency[AttemptRecorder],
    ) -> Response[AttemptOut]:
        key = request_key(request)
        command = RecordAttempt(
            tenant_id=key.tenant_id, actor=key.actor, **msgspec.structs.asdict(data)
        )
        result = await recorder.record(command, now=datetime.now(UTC))
        if isinstance(result, Refuse):
            raise problem_for(result)
        created = result.outcome == "created"
        headers = position_header(result.position)
        if created:
            headers["Location"] = attempt_location(data.attempt_id)
        return Response(
            attempt_view(result.receipt, result.position),
            status_code=201 if created else 200,
            headers=headers,
        )

    @post(
        "/batch",
        status_code=200,
        opt=requires("ingest"),
        summary="Record up to 1,000 attempts; one result per item",
        description="Per item, not all-or-nothing: each item gets the status it would get alone "
        "(201 created, 200 already recorded, 409 or 422 refused, with a problem). Refused items "
        "store nothing; the others are stored together in one transaction.",
        responses=_RESPONSES,
    )
    async def record_batch(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[BatchIn],
        recorder: NamedDependency[AttemptRecorder],
    ) -> Response[BatchOut]:
        key = request_key(request)
        commands = [
            RecordAttempt(tenant_id=key.tenant_id, actor=key.actor, **msgspec.structs.asdict(item))
            for item in data.attempts
        ]
        results = await recorder.record_batch(commands, now=datetime.now(UTC))
        items = [_batch_item(n, command, result) for n, (command, result) in
                 enumerate(zip(commands, results, strict=True))]  # fmt: skip
        body = BatchOut(
            created=sum(item.status == 201 for item in items),
            replayed=sum(item.status == 200 for item in items),
            refused=sum(item.status >= 400 for item in items),
            results=items,
        )
        # The highest: reading at it reads every item of the batch back.
        highest = max((item.receipt.position for item in items if item.receipt), default=0)
        return Response(body, headers=position_header(highest) if highest else {})

    @get(
        "/{attempt_id:str}",
        opt=requires("read"),
        summary="An attempt as the log holds it: status and score after its corrections, each "
        "void or rescore, and its place in the log",
        responses={404: problem("No such attempt")},
    )
    async def get_attempt(
        self, attempt_id: PathId, tenant: NamedDependency[str], state: State
    ) -> AttemptOnRecordOut:
        async with tenant_connection(state.pool, tenant) as connection:
            record = await attempt_record(connection, tenant, attempt_id)
        if record is None:
            raise Problem(404, "not-found", "No such attempt", f"no attempt {attempt_id!r}")
        return attempt_record_view(record)

    @post(
        "/{attempt_id:str}/void",
        status_code=201,
        opt=requires("ingest"),
        summary="Void an attempt (reason required); the original stays in the log",
        responses={
            **_RESPONSES,
            404: problem("No such attempt"),
            409: problem("Already voided"),
        },
    )
    async def void_attempt(
        self,
        attempt_id: PathId,
        data: JSONBody[VoidIn],
        tenant: NamedDependency[str],
        actor: NamedDependency[Actor],
        recorder: NamedDependency[AttemptRecorder],
    ) -> Response[AppendedOut]:
        command = VoidAttempt(
            tenant_id=tenant, attempt_id=attempt_id, reason=data.reason, actor=actor
        )
        return _appended(
            await recorder.void(command, now=datetime.now(UTC)), attempt_location(attempt_id)
        )

    @post(
        "/{attempt_id:str}/rescore",
        status_code=201,
        opt=requires("ingest"),
        summary="Rescore an attempt; the original stays in the log",
        responses={
            **_RESPONSES,
            404: problem("No such attempt"),
            409: problem("The attempt was voided"),
        },
    )
    async def rescore_attempt(
        self,
        attempt_id: PathId,
        data: JSONBody[RescoreIn],
        tenant: NamedDependency[str],
        actor: NamedDependency[Actor],
        recorder: NamedDependency[AttemptRecorder],
    ) -> Response[AppendedOut]:
        command = RescoreAttempt(
            tenant_id=tenant, attempt_id=attempt_id, actor=actor, **msgspec.structs.asdict(data)
        )
        return _appended(
            await recorder.rescore(command, now=datetime.now(UTC)), attempt_location(attempt_id)
        )


class CorrectiveWorkController(Controller):
    path = "/v1/students/{student_id:str}/standards/{standard_id:str}/corrective-work"
    tags = ["attempts"]  # noqa: RUF012

    @post(
        "/",
        status_code=201,
        opt=requires("ingest"),
        summary="Record corrective work before a reassessment",
        responses={**_RESPONSES, 404: problem("Unknown standard")},
    )
    async def record_corrective_work(
        self,
        student_id: PathId,
        standard_id: PathId,
        data: JSONBody[CorrectiveWorkIn],
        *,
        tenant: NamedDependency[str],
        actor: NamedDependency[Actor],
        recorder: NamedDependency[AttemptRecorder],
    ) -> Response[AppendedOut]:
        command = RecordCorrectiveWork(
            tenant_id=tenant,
            student_id=student_id,
            standard_id=standard_id,
            work_id=data.work_id or str(uuid.uuid4()),
            note=data.note,
            reference=data.reference,
            actor=actor,
        )
        now = datetime.now(UTC)
        location = uri(
            "v1", "students", student_id, "standards", standard_id, "corrective-work",
            command.work_id,
        )  # fmt: skip
        return _appended(await recorder.record_corrective_work(command, now=now), location)

    @get(
        "/{work_id:str}",
        opt=requires("read"),
        summary="Corrective work as the log holds it",
        responses={404: problem("No such corrective work")},
    )
    async def get_corrective_work(
        self,
        student_id: PathId,
        standard_id: PathId,
        work_id: PathId,
        tenant: NamedDependency[str],
        state: State,
    ) -> CorrectiveWorkOnRecordOut:
        async with tenant_connection(state.pool, tenant) as connection:
            found = await corrective_work_record(
                connection, tenant, student_id, standard_id, work_id
            )
        if found is None:
            raise Problem(
                404, "not-found", "No such corrective work", f"no corrective work {work_id!r}"
            )
        return corrective_work_view(*found)


def position_header(position: int) -> dict[str, str]:
    return {LOG_POSITION_HEADER: str(position)}


def attempt_location(attempt_id: str) -> str:
    """The URI of an attempt, for the `Location` of a 201 (RFC 9110 section 15.3.2)."""
    return uri("v1", "attempts", attempt_id)


def _appended(result: Appended | Refuse, location: str) -> Response[AppendedOut]:
    if isinstance(result, Refuse):
        raise problem_for(result)
    headers = position_header(result.position) | {"Location": location}
    return Response(appended_view(result), status_code=201, headers=headers)


def _batch_item(index: int, command: RecordAttempt, result: Recorded | Refuse) -> BatchItemOut:
    if isinstance(result, Refuse):
        problem = problem_body(result)
        return BatchItemOut(
            index=index, attempt_id=command.attempt_id, status=problem.status, problem=problem
        )
    status = 201 if result.outcome == "created" else 200
    return BatchItemOut(
        index=index,
        attempt_id=command.attempt_id,
        status=status,
        receipt=attempt_view(result.receipt, result.position),
    )
