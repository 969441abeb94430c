"""W3C traceparent values are kept only when valid; an envelope drops a malformed one; tracing is
off (no provider, no exporter) unless an OTLP endpoint is configured; a request's span continues
the client's traceparent and its trace id is on the request's log lines."""

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import msgspec
import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st
from litestar import Litestar, get
from litestar.testing import TestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from services.attempts.config import AttemptsConfig
from shared.contract.cloudevents import CloudEvent, EnvelopeCodec
from shared.contract.trace_context import TraceParent, parse_traceparent, valid_traceparent
from shared.platform.http import PathId
from shared.platform.logs import access_log, configure_logging
from shared.platform.tracing import (
    Tracing,
    current_traceparent,
    traced_requests,
    traces_endpoint,
)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
VALID = f"00-{TRACE}-{SPAN}-01"


def test_a_valid_traceparent_is_parsed_into_its_ids_and_sampled_flag() -> None:
    assert parse_traceparent(VALID) == TraceParent(int(TRACE, 16), int(SPAN, 16), 1)
    assert parse_traceparent(f"00-{TRACE}-{SPAN}-00") == TraceParent(
        int(TRACE, 16), int(SPAN, 16), 0
    )
    assert valid_traceparent(VALID) == VALID


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "garbage",
        f"00-{TRACE}-{SPAN}",  # no flags
        f"00-{TRACE}-{SPAN}-01-extra",  # version 00 has nothing after its flags
        f"00-{TRACE[:-1]}-{SPAN}-01",  # a trace id one digit short
        f"00-{TRACE}-{SPAN}0-01",  # a parent id one digit long
        f"00-{'0' * 32}-{SPAN}-01",  # all-zero trace id
        f"00-{TRACE}-{'0' * 16}-01",  # all-zero parent id
        f"ff-{TRACE}-{SPAN}-01",  # version ff is invalid
        f"00-{TRACE.upper()}-{SPAN}-01",  # upper case
        f"0A-{TRACE}-{SPAN}-01",
        f" {VALID}",
        f"{VALID}\n",
        f"00_{TRACE}_{SPAN}_01",
        f"00-{TRACE}-{SPAN}-0g",
    ],
)
def test_a_malformed_traceparent_is_none(value: str | None) -> None:
    assert parse_traceparent(value) is None
    assert valid_traceparent(value) is None


def test_a_later_version_is_read_by_its_first_fields_and_sent_on_as_version_00() -> None:
    assert valid_traceparent(f"01-{TRACE}-{SPAN}-01-what-comes-later") == VALID
    assert valid_traceparent(f"01-{TRACE}-{SPAN}-01") == VALID
    assert valid_traceparent(f"01-{TRACE}-{SPAN}-01x") is None


@given(st.text(max_size=80))
def test_anything_accepted_comes_out_in_the_one_shape_sent(value: str) -> None:
    kept = valid_traceparent(value)
    assert kept is None or parse_traceparent(kept) is not None


def _envelope_bytes(traceparent: object) -> bytes:
    envelope = {
        "id": "e-1", "source": "/test", "type": "org.mastery.test", "subject": "s",
        "time": datetime(2026, 10, 1, tzinfo=UTC).isoformat(), "tenantid": "school",
        "streamversion": 1, "data": 7, "traceparent": traceparent,
    }  # fmt: skip
    return msgspec.json.encode(envelope)


@pytest.mark.parametrize(
    "carried", ["not-a-traceparent", 42, None, {"a": 1}, f"ff-{TRACE}-{SPAN}-01"]
)
def test_an_envelope_drops_a_malformed_traceparent_and_is_not_poison(carried: object) -> None:
    envelope = EnvelopeCodec[int](int).decode(_envelope_bytes(carried))
    assert envelope.data == 7
    assert envelope.trace_parent is None
    assert envelope.traceparent is msgspec.UNSET


def test_an_envelope_keeps_a_valid_traceparent_and_encodes_it_only_when_present() -> None:
    codec = EnvelopeCodec[int](int)
    envelope = codec.decode(_envelope_bytes(VALID))
    assert envelope.trace_parent == VALID
    assert json.loads(codec.encode(envelope))["traceparent"] == VALID
    bare = msgspec.structs.replace(envelope, traceparent=msgspec.UNSET)
    assert "traceparent" not in json.loads(codec.encode(bare))
    assert isinstance(bare, CloudEvent)


def test_with_no_otlp_endpoint_no_provider_or_exporter_is_installed() -> None:
    config = AttemptsConfig(database_url="postgresql://db/x", bus_stream_replicas=1)
    tracing = Tracing.from_config(config, "attempts")
    assert traces_endpoint(config) == ""
    assert tracing.provider is None
    assert tracing.exporting is False
    # The context is still carried: a new trace per span, not sampled.
    with tracing.span("work") as span:
        assert span.is_recording() is False
        assert current_traceparent() is not None
    tracing.shutdown()


def test_an_otlp_endpoint_installs_a_batching_exporter_named_after_the_service() -> None:
    config = AttemptsConfig(
        database_url="postgresql://db/x",
        bus_stream_replicas=1,
        otel_exporter_otlp_endpoint="http://collector:4318/",
    )
    assert traces_endpoint(config) == "http://collector:4318/v1/traces"
    tracing = Tracing.from_config(config, "attempts")
    try:
        assert tracing.provider is not None
        assert tracing.provider.resource.attributes["service.name"] == "attempts"
        processors = tracing.provider._active_span_processor._span_processors
        assert [type(each).__name__ for each in processors] == ["BatchSpanProcessor"]
    finally:
        tracing.provider.shutdown() if tracing.provider else None
    traces_only = msgspec.structs.replace(
        config, otel_exporter_otlp_traces_endpoint="https://otel.example/t"
    )
    assert traces_endpoint(traces_only) == "https://otel.example/t"


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    output = io.StringIO()
    configure_logging(output)
    yield output
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


@get("/v1/things/{thing_id:str}", sync_to_thread=False)
def thing(thing_id: PathId) -> dict[str, str | None]:
    structlog.stdlib.get_logger("test").info("inside")
    return {"traceparent": current_traceparent()}


def _traced_app() -> tuple[Litestar, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = Tracing(provider)
    app = Litestar([thing], middleware=[traced_requests(tracing), access_log], logging_config=None)
    return app, exporter


def test_a_request_span_continues_the_clients_trace_and_its_lines_carry_the_trace_id(
    log_output: io.StringIO,
) -> None:
    app, exporter = _traced_app()
    with TestClient(app) as client:
        response = client.get("/v1/things/t-1", headers={"traceparent": VALID})
    assert response.status_code == 200
    [span] = exporter.get_finished_spans()
    assert span.name == "GET /v1/things/{thing_id}"
    assert span.kind is SpanKind.SERVER
    assert span.context is not None
    assert span.parent is not None
    assert (span.context.trace_id, span.parent.span_id) == (int(TRACE, 16), int(SPAN, 16))
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 200
    # The handler saw its own span as the trace context to pass on.
    assert response.json()["traceparent"] == f"00-{TRACE}-{span.context.span_id:016x}-01"
    logged = [json.loads(each) for each in log_output.getvalue().splitlines()]
    lines = [line for line in logged if line["logger"] in {"test", "mastery.access"}]
    assert {line["event"] for line in lines} == {"inside", "request"}
    assert all(line["trace_id"] == TRACE for line in lines)


def test_a_malformed_traceparent_starts_a_new_trace_and_is_never_logged(
    log_output: io.StringIO,
) -> None:
    app, exporter = _traced_app()
    forged = f"00-{TRACE}-{SPAN}-01\nFAKE"
    with TestClient(app) as client:
        response = client.get("/v1/things/t-1", headers={"traceparent": forged.replace("\n", "x")})
    assert response.status_code == 200
    [span] = exporter.get_finished_spans()
    assert span.parent is None
    assert span.context is not None
    assert span.context.trace_id != int(TRACE, 16)
    assert TRACE not in log_output.getvalue()


def test_two_traceparent_headers_are_neither_trusted() -> None:
    app, exporter = _traced_app()
    with TestClient(app) as client:
        headers = [("traceparent", VALID), ("traceparent", VALID)]
        assert client.get("/v1/things/t-1", headers=headers).status_code == 200
    [span] = exporter.get_finished_spans()
    assert span.parent is None


def test_without_a_provider_a_request_still_carries_the_clients_trace_on() -> None:
    app = Litestar([thing], middleware=[traced_requests(Tracing())], logging_config=None)
    with TestClient(app) as client:
        carried = client.get("/v1/things/t-1", headers={"traceparent": VALID}).json()
        fresh = client.get("/v1/things/t-2").json()
    parsed = parse_traceparent(carried["traceparent"])
    assert parsed is not None
    assert (parsed.trace_id, parsed.sampled) == (int(TRACE, 16), True)
    assert parsed.span_id != int(SPAN, 16)
    assert parse_traceparent(fresh["traceparent"]) is not None
