"""The real statsd client → the bridge (UDP and TCP) → a real Prometheus → PromQL."""

from __future__ import annotations

import pytest
import statsd

pytestmark = [pytest.mark.slow, pytest.mark.server]

MAPPING = """
mappings:
- match: app.requests.*.*
  name: app_requests
  labels:
    method: $1
    code: $2
- match: app.queue.*
  name: app_queue_depth
  labels:
    queue: $1
- match: app.latency.*
  name: app_latency_seconds
  observer_type: histogram
  histogram_options:
    buckets: [0.1, 0.5, 1, 5]
  labels:
    endpoint: $1
- match: app.payload.*
  name: app_payload_bytes
  observer_type: summary
  summary_options:
    quantiles:
    - quantile: 0.5
      error: 0.01
  labels:
    endpoint: $1
"""


def test_statsd_client_to_prometheus(bridge_factory, prometheus_factory, tmp_path) -> None:
    mapping = tmp_path / "mapping.yml"
    mapping.write_text(MAPPING)
    bridge = bridge_factory(f"--statsd.mapping-config={mapping}")
    prometheus = prometheus_factory(
        f"scrape_configs:\n- job_name: bridge\n  static_configs:\n  - targets: ['127.0.0.1:{bridge.http_port}']\n"
    )

    udp = statsd.StatsClient("127.0.0.1", bridge.statsd_port, prefix="app")
    tcp = statsd.TCPStatsClient("127.0.0.1", bridge.statsd_port, prefix="app")
    for _ in range(3):
        udp.incr("requests.get.200")
    tcp.incr("requests.post.500", 2)
    udp.gauge("queue.default", 7)
    udp.gauge("queue.default", 3, delta=True)
    tcp.gauge("queue.high", 5)
    tcp.gauge("queue.high", -2, delta=True)
    for ms in (50, 300, 700, 2000):
        udp.timing("latency.home", ms)
    for size in (10, 20, 30):
        tcp.timing("payload.upload", size)
    tcp.close()

    bridge.wait_for("app_payload_bytes_count", 3, endpoint="upload")
    bridge.wait_for("app_latency_seconds_count", 4, endpoint="home")
    prometheus.wait_for_value('app_requests{method="get",code="200"}', 3)
    prometheus.wait_for_value('app_requests{method="post",code="500"}', 2)
    prometheus.wait_for_value('app_queue_depth{queue="default"}', 10)
    prometheus.wait_for_value('app_queue_depth{queue="high"}', 3)
    prometheus.wait_for_value('app_latency_seconds_bucket{endpoint="home",le="0.5"}', 2)
    prometheus.wait_for_value('app_latency_seconds_count{endpoint="home"}', 4)
    prometheus.wait_for_value('app_latency_seconds_sum{endpoint="home"}', 3.05)
    prometheus.wait_for_value('app_payload_bytes{endpoint="upload",quantile="0.5"}', 0.02)
    prometheus.wait_for_value('app_payload_bytes_count{endpoint="upload"}', 3)
    quantile = prometheus.query("histogram_quantile(0.5, sum by (le) (app_latency_seconds_bucket))")
    assert 0.1 <= float(quantile[0]["value"][1]) <= 0.5
    prometheus.wait_for_value('up{job="bridge"}', 1)
    prometheus.wait_for_value("statsd_exporter_tcp_connections_total", 1)
