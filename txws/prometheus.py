# -*- test-case-name: tests.test_metrics -*-
"""
L{txws.metrics.Metrics} in the Prometheus text format, with
C{prometheus_client} (the C{metrics} extra:
C{pip install 'twisted-websockets[metrics]'}).

L{MetricsCollector} reads the counters when Prometheus scrapes, so that
nothing is done per message for Prometheus; L{MetricsResource} serves a
registry as a C{twisted.web} resource. The names::

    txws_connections_open                 gauge
    txws_connections_total                counter
    txws_handshake_failures_total{status} counter
    txws_messages_received_total          counter
    txws_messages_sent_total              counter
    txws_bytes_received_total             counter
    txws_bytes_sent_total                 counter
    txws_close_codes_total{code}          counter
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from twisted.web.resource import Resource
from twisted.web.server import Request

from .metrics import Metrics

try:
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
    from prometheus_client.registry import Collector
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "txws.prometheus needs prometheus_client: pip install 'twisted-websockets[metrics]'"
    ) from e

__all__ = ["MetricsCollector", "MetricsResource"]


class MetricsCollector(Collector):
    """
    A C{prometheus_client} collector of one L{Metrics}: register it in any
    registry (C{prometheus_client.REGISTRY} to add txws to an application's
    own metrics).
    """

    def __init__(self, metrics: Metrics) -> None:
        if not isinstance(metrics, Metrics):
            raise TypeError("metrics must be a txws.metrics.Metrics")
        self.metrics = metrics

    def collect(self) -> Iterator[Any]:
        m = self.metrics
        yield GaugeMetricFamily(
            "txws_connections_open", "WebSocket connections open now.", m.connectionsOpen
        )
        yield CounterMetricFamily(
            "txws_connections", "WebSocket connections opened.", m.connectionsTotal
        )
        failures = CounterMetricFamily(
            "txws_handshake_failures",
            "Opening handshakes that failed, by HTTP status (or timeout, invalid).",
            labels=["status"],
        )
        for status, count in sorted(m.handshakeFailures.items()):
            failures.add_metric([status], count)
        yield failures
        for name, value, text in (
            ("messages_received", m.messagesReceived, "Data messages received."),
            ("messages_sent", m.messagesSent, "Data messages sent."),
            ("bytes_received", m.bytesReceived, "Payload bytes of data frames received."),
            ("bytes_sent", m.bytesSent, "Payload bytes of data frames sent."),
        ):
            yield CounterMetricFamily(f"txws_{name}", text, value)
        codes = CounterMetricFamily(
            "txws_close_codes", "Closed connections, by close code.", labels=["code"]
        )
        for code, count in sorted(m.closeCodes.items()):
            codes.add_metric([str(code)], count)
        yield codes


class MetricsResource(Resource):
    """
    A C{twisted.web} resource that answers GET with the metrics of
    C{metrics} (a L{Metrics}, registered in a registry of its own) or of a
    C{prometheus_client} C{registry}, in the Prometheus text format.
    """

    isLeaf = True

    def __init__(
        self, metrics: Metrics | None = None, *, registry: CollectorRegistry | None = None
    ) -> None:
        super().__init__()
        if (metrics is None) == (registry is None):
            raise TypeError("MetricsResource takes metrics or registry, not both or neither")
        if registry is None:
            registry = CollectorRegistry(auto_describe=True)
            registry.register(MetricsCollector(metrics))  # type: ignore[arg-type]
        self.registry = registry

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"Content-Type", CONTENT_TYPE_LATEST.encode("ascii"))
        return generate_latest(self.registry)

    def render_HEAD(self, request: Request) -> bytes:
        return self.render_GET(request)
