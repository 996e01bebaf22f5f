"""Fleet identity: which deployment a sample comes from, added before mapping.

In order: a tag the sender set (DogStatsD or InfluxDB, e.g. Airflow's ``statsd_datadog_tags``), the
statsd prefix when a deployment sends ``<deployment>.`` in place of ``airflow.``, the sender's pod
(optional, see ``pods``), and a default for a bridge that serves one deployment. Prefixed names are rewritten to the base prefix, so one mapping
(the built-in preset or a user's file written for ``airflow.*``) serves every deployment.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bridge.line import Event


@dataclass(frozen=True)
class FleetIdentity:
    label: str = "deployment"
    default: str = ""
    from_prefix: bool = False
    base_prefix: str = "airflow"

    def apply(self, event: Event, pod_deployment: str | None = None) -> Event:
        """Add the deployment: a sender's tag, else the prefix, else the sender's pod, else the default."""
        name, labels = event.name, event.labels
        if self.from_prefix:
            head, dot, rest = name.partition(".")
            if dot and head != self.base_prefix:
                name = f"{self.base_prefix}.{rest}"
                if self.label not in labels:
                    labels = {**labels, self.label: head}
        fallback = pod_deployment or self.default
        if fallback and self.label not in labels:
            labels = {**labels, self.label: fallback}
        if name is event.name and labels is event.labels:
            return event
        return replace(event, name=name, labels=labels)


NO_IDENTITY = FleetIdentity()
