"""Optional OpenTelemetry tracing: the bridge, the command agent and the event store in one trace.

Off unless `OTEL_ENABLED=true`, and then only when the `tracing` extra is installed
(`pip install 'crm-events[tracing]'`); without it the service logs one warning and runs untraced.
The trace context crosses Kafka in the inbound message's W3C `traceparent` / `tracestate`
headers. A command batch holds messages of many traces: its span continues the first message's
trace and links the others, so every bridge request leads to the batch that processed it.
Spans go to an OTLP/HTTP collector at `OTEL_EXPORTER_OTLP_ENDPOINT`, or, without one, to stdout
as one JSON object per line.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from app.settings import Settings

log = logging.getLogger(__name__)

TRACE_HEADERS = ("traceparent", "tracestate")

_tracer: Any = None  # an opentelemetry Tracer once `configure` enabled tracing


def configure(settings: Settings) -> bool:
    """Install the tracer provider and exporter; False when tracing stays off."""
    global _tracer
    if not settings.otel_enabled:
        return False
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            ConsoleSpanExporter,
            SimpleSpanProcessor,
        )
    except ImportError:
        log.warning("OTEL_ENABLED is set but OpenTelemetry is not installed "
                    "(pip install 'crm-events[tracing]'); running without tracing")
        return False
    provider = TracerProvider(resource=Resource.create(
        {"service.name": settings.otel_service_name or settings.app_id}))
    endpoint = settings.otel_exporter_otlp_endpoint
    if endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(
            endpoint=traces_url(endpoint))))
    else:  # the real stdout: Faust's worker later redirects sys.stdout into the log
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(
            out=sys.stdout, formatter=lambda span: span.to_json(indent=None) + "\n")))
    trace.set_tracer_provider(provider)
    _tracer = trace.get_tracer("crm-events")
    log.info("tracing on, spans to %s", traces_url(endpoint) if endpoint else "stdout")
    return True


def shutdown() -> None:
    """Flush spans still queued (a batch exporter sends every few seconds)."""
    if _tracer is not None:
        from opentelemetry import trace

        with contextlib.suppress(Exception):
            trace.get_tracer_provider().shutdown()


def enabled() -> bool:
    return _tracer is not None


def traces_url(endpoint: str) -> str:
    """OTEL_EXPORTER_OTLP_ENDPOINT names the collector; traces go to its /v1/traces path."""
    return endpoint if endpoint.rstrip("/").endswith("/v1/traces") else \
        endpoint.rstrip("/") + "/v1/traces"


@contextlib.contextmanager
def span(name: str, attributes: Mapping[str, Any] | None = None, *,
         kind: str = "INTERNAL") -> Iterator[Any]:
    """A child of the current span (a no-op yielding None when tracing is off)."""
    if _tracer is None:
        yield None
        return
    from opentelemetry.trace import SpanKind

    with _tracer.start_as_current_span(name, kind=SpanKind[kind],
                                       attributes=dict(attributes or {})) as current:
        yield current


@contextlib.contextmanager
def consuming(name: str, messages_headers: Sequence[Mapping[str, str]],
              attributes: Mapping[str, Any] | None = None) -> Iterator[Any]:
    """A span for work on consumed messages: continues the first traced message's trace and
    links every other traced message."""
    if _tracer is None:
        yield None
        return
    from opentelemetry import propagate, trace
    from opentelemetry.trace import Link, SpanKind

    contexts = [propagate.extract(headers) for headers in messages_headers
                if "traceparent" in headers]
    span_contexts = [trace.get_current_span(c).get_span_context() for c in contexts]
    links = [Link(sc) for sc in span_contexts[1:] if sc.is_valid]
    with _tracer.start_as_current_span(
            name, context=contexts[0] if contexts else None, kind=SpanKind.CONSUMER,
            links=links, attributes=dict(attributes or {})) as current:
        yield current


def inject(headers: dict[str, bytes]) -> dict[str, bytes]:
    """Add the current trace context to Kafka message headers (unchanged when tracing is off)."""
    if _tracer is None:
        return headers
    from opentelemetry import propagate

    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    headers.update({name: value.encode() for name, value in carrier.items()
                    if name in TRACE_HEADERS})
    return headers


def record_status(current: Any, status: int) -> None:
    """Mark an HTTP span failed for server errors (4xx are the caller's, not ours)."""
    if current is None:
        return
    from opentelemetry.trace import Status, StatusCode

    current.set_attribute("http.response.status_code", status)
    if status >= 500:
        current.set_status(Status(StatusCode.ERROR))
