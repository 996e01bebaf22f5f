"""statsd_exporter's self-metrics, under the same names, labels and help texts.

Each part of the bridge owns its counters and gauges and hands them over for a scrape through
``self_metrics()``: the pipeline (under its own lock, with the registry, mapper and twins it holds), each
listener, the relay, the HTTP server and the bridge itself (reloads). ``families`` renders what they hand over.
"""

from __future__ import annotations

import os
import resource
import threading
from collections import defaultdict
from typing import Protocol

from airglow.bridge import __version__
from airglow.bridge.registry import FamilySnapshot, Sample, SeriesSnapshot, render_labels

Labels = tuple[tuple[str, str], ...]
Values = dict[tuple[str, Labels], float]

# name: (type, help)
CATALOGUE: dict[str, tuple[str, str]] = {
    "statsd_exporter_events_total": ("counter", "The total number of StatsD events seen."),
    "statsd_exporter_event_queue_flushed_total": (
        "counter",
        "Number of times events were flushed to exporter",
    ),
    "statsd_exporter_events_unmapped_total": (
        "counter",
        "The total number of StatsD events no mapping was found for.",
    ),
    "statsd_exporter_udp_packets_total": ("counter", "The total number of StatsD packets received over UDP."),
    "statsd_exporter_udp_packet_drops_total": (
        "counter",
        "The total number of dropped StatsD packets which received over UDP.",
    ),
    "statsd_exporter_tcp_connections_total": ("counter", "The total number of TCP connections handled."),
    "statsd_exporter_tcp_connection_errors_total": (
        "counter",
        "The number of errors encountered reading from TCP.",
    ),
    "statsd_exporter_tcp_too_long_lines_total": (
        "counter",
        "The number of lines discarded due to being too long.",
    ),
    "statsd_exporter_unixgram_packets_total": (
        "counter",
        "The total number of StatsD packets received over Unixgram.",
    ),
    "statsd_exporter_lines_total": ("counter", "The total number of StatsD lines received."),
    "statsd_exporter_samples_total": ("counter", "The total number of StatsD samples received."),
    "statsd_exporter_sample_errors_total": ("counter", "The total number of errors parsing StatsD samples."),
    "statsd_exporter_tags_total": ("counter", "The total number of DogStatsD tags processed."),
    "statsd_exporter_tag_errors_total": ("counter", "The number of errors parsing DogStatsD tags."),
    "statsd_exporter_config_reloads_total": ("counter", "The number of configuration reloads."),
    "statsd_exporter_loaded_mappings": ("gauge", "The current number of configured metric mappings."),
    "statsd_exporter_events_conflict_total": (
        "counter",
        "The total number of StatsD events with conflicting names.",
    ),
    "statsd_exporter_events_error_total": (
        "counter",
        "The total number of StatsD events discarded due to errors.",
    ),
    "statsd_exporter_events_actions_total": ("counter", "The total number of StatsD events by action."),
    "statsd_exporter_metrics_total": ("gauge", "The total number of metrics."),
    "statsd_metric_mapper_cache_length": ("gauge", "The count of unique metrics currently cached."),
    "statsd_metric_mapper_cache_gets_total": ("counter", "The count of total metric cache gets."),
    "statsd_metric_mapper_cache_hits_total": ("counter", "The count of total metric cache hits."),
    "statsd_exporter_relay_packets_total": ("counter", "The number of StatsD packets relayed."),
    "statsd_exporter_relay_long_lines_total": ("counter", "The number lines that were too long to relay."),
    "statsd_exporter_relay_lines_relayed_total": (
        "counter",
        "The number of lines that were buffered to be relayed.",
    ),
    "statsd_exporter_build_info": (
        "gauge",
        "A metric with a constant '1' value labeled by version, revision, branch, goversion from "
        "which statsd_exporter was built, and the goos and goarch for the build.",
    ),
    "airglow_bridge_series": ("gauge", "Series currently held for mapped metrics."),
    "airglow_bridge_series_limit": (
        "gauge",
        "Configured series limits (0: none), by scope: series in all, series per metric, label bytes per "
        "series, estimated bytes of all series.",
    ),
    "airglow_bridge_series_memory_bytes": ("gauge", "Estimated memory of every series held, in bytes."),
    "airglow_bridge_series_dropped_total": (
        "counter",
        "Samples dropped because their new series would pass a series limit, by limit (global, per_metric, "
        "label_bytes, memory) and metric name (names beyond the first 1000 are counted as __other__).",
    ),
    "airglow_bridge_udp_receive_buffer_bytes": (
        "gauge",
        "Size of the UDP socket's kernel receive buffer as granted (see --statsd.read-buffer), in bytes.",
    ),
    "airglow_bridge_udp_kernel_drops_total": (
        "counter",
        "Datagrams the kernel dropped for the bridge's UDP socket because its receive buffer was full.",
    ),
    "airglow_bridge_connections_refused_total": (
        "counter",
        "Connections closed at once because the listener already had its maximum open, by listener.",
    ),
    "airglow_bridge_connections_timed_out_total": (
        "counter",
        "Connections closed because they were idle, sent a request too slowly or did not read a response "
        "in time, by listener.",
    ),
    "airglow_bridge_twin_events_total": (
        "counter",
        "Events Airflow sent under both its legacy and its tagged name, by what the bridge decided: "
        "counted_first (its twin expected), twin_dropped (the second form of a pair), counted_after_window "
        "and counted_early_at_bound (a bare form whose legacy twin did not come).",
    ),
    "airglow_bridge_twins_held": ("gauge", "Bare-form events waiting for their legacy twin."),
    "airglow_bridge_twins_expected": ("gauge", "Twins expected by an event already counted."),
    "process_cpu_seconds_total": ("counter", "Total user and system CPU time spent in seconds."),
    "process_resident_memory_bytes": ("gauge", "Resident memory size in bytes."),
    "process_virtual_memory_bytes": ("gauge", "Virtual memory size in bytes."),
    "process_start_time_seconds": ("gauge", "Start time of the process since unix epoch in seconds."),
    "process_open_fds": ("gauge", "Number of open file descriptors."),
    "process_max_fds": ("gauge", "Maximum number of open file descriptors."),
}

CACHE_COUNTERS = ("statsd_metric_mapper_cache_gets_total", "statsd_metric_mapper_cache_hits_total")
ALWAYS_PRESENT = (
    "statsd_exporter_event_queue_flushed_total",
    "statsd_exporter_events_unmapped_total",
    "statsd_exporter_udp_packets_total",
    "statsd_exporter_udp_packet_drops_total",
    "statsd_exporter_tcp_connections_total",
    "statsd_exporter_tcp_connection_errors_total",
    "statsd_exporter_tcp_too_long_lines_total",
    "statsd_exporter_unixgram_packets_total",
    "statsd_exporter_lines_total",
    "statsd_exporter_samples_total",
    "statsd_exporter_tags_total",
    "statsd_exporter_tag_errors_total",
    "statsd_exporter_loaded_mappings",
)


class SelfMetricSource(Protocol):
    def self_metrics(self) -> Values: ...


class Counters:
    """A part's own counters: added to from any of its threads, read whole for a scrape."""

    def __init__(self, at_zero: tuple[tuple[str, Labels], ...] = ()) -> None:
        self._lock = threading.Lock()
        self._values: Values = dict.fromkeys(at_zero, 0.0)  # shown before the first event, for rates

    def add(self, name: str, amount: float = 1, labels: Labels = ()) -> None:
        key = (name, labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def self_metrics(self) -> Values:
        with self._lock:
            return dict(self._values)


class SelfMetrics:
    """The pipeline's counters, keyed by (name, labels), added to under the pipeline's lock. The hot path
    adds whole batches through shared outcome counters."""

    def __init__(self) -> None:
        self.values: Values = defaultdict(float)
        self._outcomes: dict[tuple, list[int]] = {}

    def inc(self, name: str, labels: Labels = (), amount: float = 1) -> None:
        self.values[(name, labels)] += amount

    def add_all(self, increments: tuple[tuple[str, Labels, int], ...]) -> None:
        values = self.values
        for name, labels, amount in increments:
            values[(name, labels)] += amount

    def outcome(self, increments: tuple[tuple[str, Labels, int], ...]) -> list[int]:
        """A shared hit counter for lines that always make the same increments (the fast path)."""
        counter = self._outcomes.get(increments)
        if counter is None:
            counter = self._outcomes[increments] = [0]
        return counter

    def totals(self) -> Values:
        totals = dict(self.values)
        for increments, (hits,) in self._outcomes.items():
            if hits:
                for name, labels, amount in increments:
                    totals[(name, labels)] = totals.get((name, labels), 0.0) + hits * amount
        return totals


def gather(sources: list[SelfMetricSource]) -> Values:
    """Every part's self-metrics; a name two parts count (connections by listener) is added up."""
    values: Values = {}
    for source in sources:
        for key, value in source.self_metrics().items():
            values[key] = values.get(key, 0.0) + value
    return values


def families(values: Values, started: float, cache_metrics: bool = False) -> list[FamilySnapshot]:
    """All self-metrics as families; unlabelled counters show at zero, as client_golang shows them."""
    totals = dict(values)
    present = ALWAYS_PRESENT + (CACHE_COUNTERS if cache_metrics else ())
    for name in present:
        totals.setdefault((name, ()), 0.0)
    totals[
        (
            "statsd_exporter_build_info",
            (
                ("branch", ""),
                ("goarch", os.uname().machine),
                ("goos", "linux"),
                ("goversion", "python"),
                ("revision", ""),
                ("tags", ""),
                ("version", __version__),
            ),
        )
    ] = 1
    totals.update(_process_metrics(started))
    by_name: dict[str, list[tuple[Labels, float]]] = defaultdict(list)
    for (name, labels), value in totals.items():
        by_name[name].append((labels, value))
    return [
        FamilySnapshot(
            name,
            CATALOGUE[name][0],
            CATALOGUE[name][1],
            [
                SeriesSnapshot(labels, [Sample("", render_labels(labels), None, value)])
                for labels, value in sorted(series)
            ],
        )
        for name, series in by_name.items()
    ]


def _process_metrics(started: float) -> Values:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out: Values = {
        ("process_cpu_seconds_total", ()): usage.ru_utime + usage.ru_stime,
        ("process_start_time_seconds", ()): started,
        ("process_max_fds", ()): float(resource.getrlimit(resource.RLIMIT_NOFILE)[0]),
    }
    try:
        with open("/proc/self/statm") as statm:
            pages = [int(x) for x in statm.read().split()[:2]]
        page = os.sysconf("SC_PAGE_SIZE")
        out[("process_virtual_memory_bytes", ())] = float(pages[0] * page)
        out[("process_resident_memory_bytes", ())] = float(pages[1] * page)
        out[("process_open_fds", ())] = float(len(os.listdir("/proc/self/fd")))
    except OSError:
        pass
    return out
