"""Airglow's statsd → Prometheus bridge, a drop-in for prometheus/statsd_exporter."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("airglow")  # pyproject.toml holds the one version
except PackageNotFoundError:  # a checkout on sys.path that was never installed
    __version__ = "0+unknown"
