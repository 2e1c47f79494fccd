"""Tracing: one trace from the bridge's request through the Kafka headers to the command batch
and the event store append; nothing at all when tracing is off or not installed."""

from __future__ import annotations

import builtins
import logging

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from app import tracing
from app.settings import Settings


@pytest.fixture
def spans(monkeypatch):
    """Tracing on, with a provider of the test's own (the global one is set once per process)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("test"))
    return exporter


def as_text(headers: dict[str, bytes]) -> dict[str, str]:
    """What the command agent hands on: Kafka headers decoded."""
    return {name: value.decode() for name, value in headers.items()}


def test_the_batch_continues_the_bridge_trace_down_to_the_event_store_append(spans):
    with tracing.span("POST /events/salesforce/", kind="SERVER"):
        first = tracing.inject({"correlation-id": b"c1"})
    with tracing.span("POST /events/salesforce/", kind="SERVER"):
        second = tracing.inject({"correlation-id": b"c2"})
    assert first["correlation-id"] == b"c1" and first["traceparent"]

    batch_of_two = [as_text(first), as_text(second)]
    with tracing.consuming("process salesforce events", batch_of_two), \
            tracing.span("event_store.append"):
        pass

    bridge_1, bridge_2, append, batch = spans.get_finished_spans()
    assert append.name == "event_store.append" and batch.name == "process salesforce events"
    assert batch.context.trace_id == bridge_1.context.trace_id == append.context.trace_id
    assert batch.parent.span_id == bridge_1.context.span_id
    assert append.parent.span_id == batch.context.span_id
    # the second request's trace leads to the same batch by a link
    assert [link.context.span_id for link in batch.links] == [bridge_2.context.span_id]
    assert bridge_2.context.trace_id != bridge_1.context.trace_id


def test_a_batch_of_untraced_messages_starts_its_own_trace(spans):
    with tracing.consuming("process salesforce events", [{"correlation-id": "c"}]):
        pass
    (batch,) = spans.get_finished_spans()
    assert batch.parent is None and not batch.links


def test_server_errors_mark_the_request_span_failed(spans):
    with tracing.span("POST /events/salesforce/", kind="SERVER") as current:
        tracing.record_status(current, 503)
    with tracing.span("POST /events/salesforce/", kind="SERVER") as current:
        tracing.record_status(current, 422)
    failed, refused = spans.get_finished_spans()
    assert failed.status.status_code.name == "ERROR"
    assert refused.status.status_code.name == "UNSET"
    assert refused.attributes["http.response.status_code"] == 422


def test_when_off_nothing_is_traced_and_headers_are_untouched(monkeypatch):
    monkeypatch.setattr(tracing, "_tracer", None)
    assert tracing.configure(Settings(otel_enabled=False)) is False
    headers = {"correlation-id": b"c"}
    with tracing.span("x") as current, tracing.consuming("y", [{"traceparent": "00-x"}]) as c:
        assert current is None and c is None
    assert tracing.inject(headers) == {"correlation-id": b"c"}
    assert not tracing.enabled()


def test_enabled_without_the_tracing_extra_warns_and_runs_untraced(monkeypatch, caplog):
    monkeypatch.setattr(tracing, "_tracer", None)
    real_import = builtins.__import__

    def no_opentelemetry(name, *args, **kwargs):
        if name.startswith("opentelemetry"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_opentelemetry)
    with caplog.at_level(logging.WARNING, logger="app.tracing"):
        assert tracing.configure(Settings(otel_enabled=True)) is False
    assert "crm-events[tracing]" in caplog.text
    assert not tracing.enabled()
    assert tracing.inject({}) == {}


@pytest.mark.parametrize(("endpoint", "url"), [
    ("http://collector:4318", "http://collector:4318/v1/traces"),
    ("http://collector:4318/", "http://collector:4318/v1/traces"),
    ("http://collector:4318/v1/traces", "http://collector:4318/v1/traces"),
])
def test_the_otlp_endpoint_names_the_collector_and_traces_go_to_its_traces_path(endpoint, url):
    assert tracing.traces_url(endpoint) == url
