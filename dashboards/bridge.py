"""Bridge health: traffic, what was dropped and why, type conflicts, series against limits, reloads, scrapes."""

from __future__ import annotations

from grafanalib import core

from airglow.dashboards import promql as q
from airglow.dashboards import variables
from airglow.dashboards.frame import dashboard
from airglow.dashboards.panels import Query, Section, Step, timeseries

INSTANCE = ("instance",)
# A bridge is any target that exposes the mapping count, whatever the job is called.
IS_BRIDGE = "and on (instance, job) statsd_exporter_loaded_mappings"


def traffic() -> Section:
    return Section(
        "Traffic",
        (
            timeseries(
                "Lines / s",
                Query(q.rate("statsd_exporter_lines_total", group=INSTANCE), "{{instance}}"),
                unit="ops",
                width=8,
            ),
            timeseries(
                "Events / s by type",
                Query(
                    q.rate("statsd_exporter_events_total", group=("instance", "type")),
                    "{{instance}} {{type}}",
                ),
                unit="ops",
                width=8,
                stack=True,
            ),
            timeseries(
                "Unmapped events / s",
                Query(q.rate("statsd_exporter_events_unmapped_total", group=INSTANCE), "{{instance}}"),
                unit="ops",
                width=8,
            ),
        ),
    )


def drops() -> Section:
    return Section(
        "Dropped",
        (
            timeseries(
                "Dropped lines / s by reason",
                Query(
                    q.rate("statsd_exporter_sample_errors_total", group=("instance", "reason")),
                    "{{instance}} {{reason}}",
                ),
                Query(
                    q.rate("statsd_exporter_udp_packet_drops_total", group=INSTANCE),
                    "{{instance}} udp queue full",
                ),
                Query(
                    q.rate("airglow_bridge_udp_kernel_drops_total", group=INSTANCE),
                    "{{instance}} udp receive buffer full (kernel)",
                ),
                Query(
                    q.rate("statsd_exporter_tcp_too_long_lines_total", group=INSTANCE),
                    "{{instance}} tcp line too long",
                ),
                unit="ops",
                width=8,
                steps=(Step("green"), Step("red", 0.001)),
            ),
            timeseries(
                "Type conflicts / s",
                Query(
                    q.rate("statsd_exporter_events_conflict_total", group=("instance", "type")),
                    "{{instance}} {{type}}",
                ),
                unit="ops",
                width=8,
                description="Events whose metric already exists with another type; dropped.",
            ),
            timeseries(
                "Series-limit drops / s",
                Query(
                    q.rate("airglow_bridge_series_dropped_total", group=("instance", "limit")),
                    "{{instance}} {{limit}}",
                ),
                unit="ops",
                width=8,
                steps=(Step("green"), Step("red", 0.001)),
            ),
        ),
    )


def state() -> Section:
    return Section(
        "State",
        (
            timeseries(
                "Series against limits",
                Query(q.gauge("airglow_bridge_series", group=INSTANCE), "{{instance}} series"),
                Query(
                    q.gauge("airglow_bridge_series_limit", 'scope="global"', group=INSTANCE),
                    "{{instance}} limit",
                ),
                width=8,
            ),
            timeseries(
                "Config reloads",
                Query(
                    q.per_minute("statsd_exporter_config_reloads_total", group=("instance", "outcome")),
                    "{{instance}} {{outcome}}",
                ),
                unit="cpm",
                width=8,
                stack=True,
            ),
            timeseries(
                "Scrape duration",
                Query(f"max by (instance) (scrape_duration_seconds {IS_BRIDGE})", "{{instance}}"),
                unit="s",
                width=8,
            ),
        ),
    )


def build() -> core.Dashboard:
    return dashboard(
        "bridge",
        "Airglow bridge",
        "The statsd → Prometheus bridges: traffic, drops by reason, conflicts, series and limits, reloads, scrapes.",
        [traffic(), drops(), state()],
        [variables.datasource()],
    )
