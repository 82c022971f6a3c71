"""Ingest counters, exported on /metrics in Prometheus text format."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from campuslab.ingest.reasons import Reason

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class IngestMetrics:
    """Counters for one ingestor, registered on ``registry``.

    - received: MQTT messages received (a SenML pack is one message)
    - stored: readings newly stored
    - duplicates: readings already stored (QoS 1 redelivery, replay), not stored again
    - rejected{reason}: messages or SenML records sent to the dead-letter record
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.received = Counter(
            "campuslab_ingest_received", "MQTT messages received", registry=self.registry
        )
        self.stored = Counter(
            "campuslab_ingest_stored", "Readings newly stored", registry=self.registry
        )
        self.duplicates = Counter(
            "campuslab_ingest_duplicates",
            "Readings already in the store, not stored again",
            registry=self.registry,
        )
        self.rejected = Counter(
            "campuslab_ingest_rejected",
            "Messages or SenML records rejected, by reason",
            ["reason"],
            registry=self.registry,
        )
        for reason in Reason:  # every reason shows, at 0, before it first happens
            self.rejected.labels(reason=reason.value)
        self.batch_seconds = Histogram(
            "campuslab_ingest_batch_seconds",
            "Time to write one batch durably to the store",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.delivery_seconds = Histogram(
            "campuslab_ingest_delivery_seconds",
            "From receipt to acknowledgement, for the oldest message of each batch",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.store_errors = Counter(
            "campuslab_ingest_store_errors",
            "Batch writes that failed and will be retried",
            registry=self.registry,
        )
        self.backlog = Gauge(
            "campuslab_ingest_backlog",
            "Messages received but not yet durably stored and acknowledged",
            registry=self.registry,
        )
        self.connected = Gauge(
            "campuslab_ingest_connected",
            "1 while connected to the MQTT broker",
            registry=self.registry,
        )

    def count_unmapped_fields(self, source: Callable[[], Mapping[str, int]]) -> None:
        """Export ``campuslab_ingest_unmapped_fields_total{model}`` from ``source``: the
        fields of device messages that their profile does not read (ignored, not rejected)."""
        self.registry.register(_UnmappedFields(source))


class _UnmappedFields(Collector):
    def __init__(self, source: Callable[[], Mapping[str, int]]) -> None:
        self._source = source

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "campuslab_ingest_unmapped_fields",
            "Fields of device messages that the device's profile does not read (ignored)",
            labels=["model"],
        )
        for model, count in sorted(dict(self._source()).items()):
            family.add_metric([model], count)
        yield family
