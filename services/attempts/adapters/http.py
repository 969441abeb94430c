"""HTTP adapter: `POST /v1/attempts`."""

from datetime import UTC, datetime
from typing import Annotated

import msgspec
from litestar import Controller, Response, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody

from services.attempts.adapters.event_store import AttemptStore, StreamContended
from services.attempts.core.recording import AttemptReceipt, RecordAttempt, Refuse
from shared.http import Problem
from shared.ids import OpaqueId


class AttemptIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    attempt_id: Annotated[
        OpaqueId, msgspec.Meta(description="Chosen by the client; posting it again is safe.")
    ]
    student_id: OpaqueId
    standard_id: OpaqueId
    score: Annotated[float, msgspec.Meta(ge=0, description="Points earned.")]
    points_possible: Annotated[float, msgspec.Meta(gt=0, le=1_000_000)]
    assessed_at: Annotated[
        datetime, msgspec.Meta(tz=True, description="When the student was assessed (RFC 3339).")
    ]


def _problem(refusal: Refuse) -> Problem:
    extensions: dict[str, object] = {}
    if refusal.field:
        message = refusal.detail.removeprefix(f"{refusal.field}: ")
        extensions["errors"] = [{"field": refusal.field, "message": message}]
    return Problem(refusal.status, refusal.slug, refusal.title, refusal.detail, **extensions)


class AttemptsController(Controller):
    path = "/v1/attempts"
    tags = ["attempts"]  # noqa: RUF012

    @post(
        "/",
        status_code=201,
        summary="Record an assessment attempt",
        responses={
            200: ResponseSpec(AttemptReceipt, description="Already recorded with this body"),
            401: ResponseSpec(None, description="No API key, or an unknown or revoked one"),
            409: ResponseSpec(None, description="attempt_id already used with another body"),
            422: ResponseSpec(None, description="Invalid body; `errors` names each field"),
        },
    )
    async def record_attempt(
        self,
        data: JSONBody[AttemptIn],
        tenant: NamedDependency[str],
        store: NamedDependency[AttemptStore],
    ) -> Response[AttemptReceipt]:
        command = RecordAttempt(tenant_id=tenant, **msgspec.structs.asdict(data))
        try:
            result = await store.record(command, now=datetime.now(UTC))
        except StreamContended as error:
            raise Problem(
                409,
                "stream-contended",
                "Too many concurrent writes",
                f"concurrent writers kept taking the next version of stream {error}; retry",
            ) from error
        if isinstance(result, Refuse):
            raise _problem(result)
        status = 201 if result.outcome == "created" else 200
        return Response(result.receipt, status_code=status)
