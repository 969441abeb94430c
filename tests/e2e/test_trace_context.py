"""One trace from the client's request to the email: the W3C trace context a client sends with an
attempt is kept on the event, travels on its CloudEvents envelope, joins the projector's batch
span, is kept on the mastery change and its envelope, and joins the notifier's spans.

Spans are recorded by a real SDK provider into opentelemetry's `InMemorySpanExporter`."""

from collections.abc import Iterator

import asyncpg
import msgspec
import nats
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from devtools.embedded import SmtpSink
from shared.contract.trace_context import parse_traceparent
from shared.platform.bus import BusNames
from shared.platform.tracing import Tracing
from tests.support.polling import eventually
from tests.support.servers import Servers
from tests.support.system import running_system
from tests.support.tenants import new_tenant

TRACE = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE}-{CLIENT_SPAN}-01"


@pytest.fixture
def spans() -> Iterator[tuple[Tracing, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield Tracing(provider), exporter
    provider.shutdown()


def _in_trace(traceparent: str | None) -> bool:
    parsed = parse_traceparent(traceparent)
    return parsed is not None and f"{parsed.trace_id:032x}" == TRACE


def _named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name == name]


def _trace_of(span: ReadableSpan) -> str:
    assert span.context is not None
    return f"{span.context.trace_id:032x}"


async def _stream_payloads(nats_url: str, stream: str, tenant_id: str) -> list[dict[str, object]]:
    """The CloudEvents of `tenant_id` on `stream`, as the server stores them."""
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        last = (await js.stream_info(stream)).state.last_seq
        stored = [await js.get_msg(stream, sequence) for sequence in range(1, last + 1)]
    finally:
        await client.close()
    payloads = [msgspec.json.decode(message.data or b"") for message in stored]
    return [each for each in payloads if each.get("tenantid") == tenant_id]


@pytest.mark.e2e
async def test_an_attempts_trace_context_reaches_the_projector_the_change_and_the_email(
    pool: asyncpg.Pool,
    database_url: str,
    servers: Servers,
    bus: BusNames,
    smtp_sink: SmtpSink,
    spans: tuple[Tracing, InMemorySpanExporter],
) -> None:
    tracing, exporter = spans
    tenant_id, auth = await new_tenant(pool)
    async with running_system(
        database_url, servers.nats_url, smtp_sink.url, bus, tracing=tracing
    ) as system:
        guardians = {"guardians": [{"email": "rosa.parent@example.org", "name": "Rosa"}]}
        put = await system.notify.put("/v1/students/maya/guardians", json=guardians, headers=auth)
        assert put.status_code == 200, put.text
        standard = await system.attempts.put(
            "/v1/standards/ela.argument", json={"title": "Argument writing"}, headers=auth
        )
        assert standard.status_code == 201, standard.text
        # Applied on its own (its trace is its request's), so the attempt's batch is the attempt.
        await eventually(lambda: _async(_named(exporter, "projector batch")), bool)
        attempt = {
            "attempt_id": "a1", "student_id": "maya", "standard_id": "ela.argument",
            "score": 3, "points_possible": 4, "assessed_at": "2026-10-01T10:00:00Z",
        }  # fmt: skip
        posted = await system.attempts.post(
            "/v1/attempts", json=attempt, headers={**auth, "traceparent": TRACEPARENT}
        )
        assert posted.status_code == 201, posted.text
        # The notifier's send span ends once the email is with the SMTP server.
        await eventually(lambda: _async(_named(exporter, "send email")), bool)

    # The request's span continues the client's and names the route.
    [request] = [s for s in _named(exporter, "POST /v1/attempts") if _trace_of(s) == TRACE]
    assert request.kind is SpanKind.SERVER
    assert request.parent is not None
    assert f"{request.parent.span_id:016x}" == CLIENT_SPAN
    assert request.context is not None

    # The stored event keeps the request span's context.
    stored = await pool.fetchval(
        "SELECT traceparent FROM attempt_events "
        "WHERE tenant_id = $1 AND data->>'attempt_id' = 'a1'",
        tenant_id,
    )
    assert stored == f"00-{TRACE}-{request.context.span_id:016x}-01"

    # The relay put it on the event's envelope.
    events = await _stream_payloads(servers.nats_url, bus.attempts_stream, tenant_id)
    [event] = [each for each in events if each["type"] == "org.mastery.attempt_recorded.v2"]
    assert event["traceparent"] == stored

    # The projector's batch span continues that trace and links to the event's context.
    [projected] = [s for s in _named(exporter, "projector batch") if _trace_of(s) == TRACE]
    assert projected.kind is SpanKind.CONSUMER
    assert [f"{link.context.trace_id:032x}" for link in projected.links] == [TRACE]

    # The change keeps its cause's trace context, in its row and on its envelope.
    change_traces = await pool.fetch(
        "SELECT traceparent FROM mastery_changes WHERE tenant_id = $1", tenant_id
    )
    assert [row["traceparent"] for row in change_traces] == [stored]
    [change] = await _stream_payloads(servers.nats_url, bus.mastery_stream, tenant_id)
    assert change["traceparent"] == stored

    # The notifier's batch continues it; its notification keeps it; the send span links to it.
    [planned] = [s for s in _named(exporter, "planner batch") if _trace_of(s) == TRACE]
    assert planned.kind is SpanKind.CONSUMER
    notified = await pool.fetchval(
        "SELECT traceparent FROM notifications WHERE tenant_id = $1", tenant_id
    )
    assert _in_trace(notified)
    sent = [
        s for s in _named(exporter, "send email") if any(
            f"{link.context.trace_id:032x}" == TRACE for link in s.links
        )
    ]  # fmt: skip
    assert len(sent) == 1


async def _async(value: list[ReadableSpan]) -> list[ReadableSpan]:
    return value
