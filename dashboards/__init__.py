"""Grafana dashboards and Prometheus rules for an Airflow fleet, and the fleet simulator that proves them.

Data flow: ``promql`` (query fragments) -> ``panels`` (one way to build each panel type) -> one module per
dashboard (``fleet``, ``deployment``, ``dag``, ``pods``, ``bridge``) -> ``grafana_json`` (Grafana's current
dashboard model) -> ``outputs`` (JSON, provisioning, ConfigMaps). ``rules`` holds the alerting and recording
rules; ``preview`` draws a dashboard from a Prometheus; ``simulate/`` generates fleet traffic.
"""
