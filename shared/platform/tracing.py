"""Traces: W3C trace context from the HTTP request through the events to the consumers, and
OpenTelemetry spans exported by OTLP/HTTP when an endpoint is configured.

Off by default: with no endpoint no SDK provider exists and no span is recorded. The trace
context still travels (an incoming `traceparent` continues, a request without one starts a new
trace id), because it costs two random numbers and it is what joins a request's log lines to the
events it caused and to a collector's spans the day one is configured. With an endpoint
(`OTEL_EXPORTER_OTLP_ENDPOINT`, or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` for traces alone, as
every OpenTelemetry SDK names them) each process exports its spans in batches, off the request
path, as `service.name` = `OTEL_SERVICE_NAME` or the service's own name.

A `Tracing` is built once per app from its config and passed down; no global provider is set,
so several apps in one process (the tests) each keep their own.
"""

import secrets
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

import structlog
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPScope, Receive, Scope, Send
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)

from shared.contract.trace_context import TraceParent, parse_traceparent
from shared.platform.asgi_status import ResponseStatus
from shared.platform.config import ServiceConfig
from shared.platform.delivery import Delivered

EventT = TypeVar("EventT")
Handler = Callable[[Sequence[Delivered[EventT]]], Awaitable[None]]

TRACEPARENT_HEADER = "traceparent"
_TRACEPARENT_KEY = TRACEPARENT_HEADER.encode()  # ASGI header names are lower-case bytes
TRACES_PATH = "/v1/traces"
_SCOPE = "mastery-gradebook"
HTTP_SERVER_ERROR = 500
# A batch span links to at most this many events' contexts (a batch holds up to 200 by default;
# collectors cap a span's links near 128).
MAX_LINKS = 128


def span_context_of(traceparent: str | None) -> SpanContext | None:
    """The remote span context a valid traceparent names (None: absent or malformed)."""
    parsed = parse_traceparent(traceparent)
    if parsed is None:
        return None
    return SpanContext(
        trace_id=parsed.trace_id,
        span_id=parsed.span_id,
        is_remote=True,
        trace_flags=TraceFlags(parsed.flags),
    )


def traceparent_of(context: SpanContext) -> str | None:
    """The traceparent that continues from `context` (None: an invalid context)."""
    if not context.is_valid:
        return None
    return str(TraceParent(context.trace_id, context.span_id, int(context.trace_flags)))


def current_traceparent() -> str | None:
    """The traceparent of the span the caller runs in (a request's, a batch's), if any."""
    return traceparent_of(trace.get_current_span().get_span_context())


def traces_endpoint(config: ServiceConfig) -> str:
    """Where spans go ("": nowhere): the traces endpoint as given, else the OTLP endpoint's
    `/v1/traces`, as the OpenTelemetry specification builds it."""
    if config.otel_exporter_otlp_traces_endpoint:
        return config.otel_exporter_otlp_traces_endpoint
    if config.otel_exporter_otlp_endpoint:
        return config.otel_exporter_otlp_endpoint.rstrip("/") + TRACES_PATH
    return ""


class Tracing:
    """Starts the spans of one service process; `provider` None: trace context only."""

    def __init__(self, provider: TracerProvider | None = None, *, owned: bool = False) -> None:
        self.provider = provider
        self._tracer = provider.get_tracer(_SCOPE) if provider is not None else None
        self._owned = owned

    @classmethod
    def from_config(cls, config: ServiceConfig, service: str) -> "Tracing":
        """An exporting provider when an endpoint is configured, else none."""
        endpoint = traces_endpoint(config)
        if not endpoint:
            return cls()
        # Imported only when asked for: the exporter pulls in protobuf and requests.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )

        name = config.otel_service_name or service
        provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        return cls(provider, owned=True)

    @property
    def exporting(self) -> bool:
        return self.provider is not None

    @contextmanager
    def span(
        self,
        name: str,
        *,
        parent: SpanContext | None = None,
        links: Sequence[SpanContext] = (),
        kind: SpanKind = SpanKind.INTERNAL,
    ) -> Iterator[Span]:
        """A span as the current one, child of `parent` (a new trace without one) and linked to
        `links`; with no provider, a context that only carries the ids on."""
        if self._tracer is None:
            with trace.use_span(NonRecordingSpan(_continued(parent)), end_on_exit=False) as span:
                yield span
            return
        context = trace.set_span_in_context(NonRecordingSpan(parent)) if parent else Context()
        with self._tracer.start_as_current_span(
            name,
            context=context,
            kind=kind,
            links=[Link(each) for each in links if each.is_valid],
        ) as span:
            yield span

    def shutdown(self) -> None:
        """Export what is buffered and stop (only the provider this object made)."""
        if self.provider is not None and self._owned:
            self.provider.shutdown()


def _continued(parent: SpanContext | None) -> SpanContext:
    """A new span id under `parent`'s trace, or a new trace (not sampled: nothing records it)."""
    return SpanContext(
        trace_id=parent.trace_id if parent else secrets.randbits(128) or 1,
        span_id=secrets.randbits(64) or 1,
        is_remote=False,
        trace_flags=parent.trace_flags if parent else TraceFlags(TraceFlags.DEFAULT),
    )


def traced_requests(tracing: Tracing) -> Callable[[ASGIApp], ASGIApp]:
    """ASGI middleware: a server span per HTTP request, child of the request's `traceparent`
    when it is valid (else a new trace), named by its route template (`POST /v1/attempts`, not
    the path, which holds ids), with its status; and its trace id on every log line meanwhile.
    Outside the access log, so the access line carries the trace id too."""

    def middleware(app: ASGIApp) -> ASGIApp:
        async def traced(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            request: HTTPScope = scope
            parent = span_context_of(_header(request, _TRACEPARENT_KEY))
            response = ResponseStatus(send)
            with tracing.span(request["method"], parent=parent, kind=SpanKind.SERVER) as span:
                trace_id = f"{span.get_span_context().trace_id:032x}"
                structlog.contextvars.bind_contextvars(trace_id=trace_id)
                try:
                    await app(scope, receive, response.send)
                finally:
                    structlog.contextvars.unbind_contextvars("trace_id")
                    if span.is_recording():
                        _describe(span, request, response.code)

        return traced

    return middleware


def _header(scope: HTTPScope, wanted: bytes) -> str | None:
    """The header's one value; None when absent or sent more than once (W3C Trace Context: a
    request with several `traceparent` headers has none that can be trusted)."""
    found = [value for name, value in scope["headers"] if name.lower() == wanted]
    return found[0].decode("latin-1") if len(found) == 1 else None


def _describe(span: Span, request: HTTPScope, status: int) -> None:
    route = request.get("path_template")
    if route:
        span.update_name(f"{request['method']} {route}")
        span.set_attribute("http.route", route)
    span.set_attribute("http.request.method", request["method"])
    span.set_attribute("http.response.status_code", status)
    if status >= HTTP_SERVER_ERROR:
        span.set_status(Status(StatusCode.ERROR))


def traced_batches(tracing: Tracing, name: str, handle: Handler[EventT]) -> Handler[EventT]:
    """`handle` inside a consumer span per batch, linked to the trace context each event
    carries; a batch whose events all belong to one trace continues it (its span is a child),
    so a single request's work reads as one trace."""

    async def traced(batch: Sequence[Delivered[EventT]]) -> None:
        carried = [span_context_of(item.envelope.trace_parent) for item in batch]
        links = [context for context in carried if context is not None][:MAX_LINKS]
        one_trace = {context.trace_id for context in links}
        parent = links[0] if len(one_trace) == 1 and len(links) == len(batch) else None
        with tracing.span(name, parent=parent, links=links, kind=SpanKind.CONSUMER) as span:
            if span.is_recording():
                span.set_attribute("messaging.batch.message_count", len(batch))
            await handle(batch)

    return traced
