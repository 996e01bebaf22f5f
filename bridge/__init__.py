"""Airglow's statsd → Prometheus bridge, a drop-in for prometheus/statsd_exporter."""

__version__ = "0.1.0"
