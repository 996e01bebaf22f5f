"""Fleet identity: which deployment a sample comes from, added before mapping.

In order: a tag the sender set (DogStatsD or InfluxDB, e.g. Airflow's ``statsd_datadog_tags``), the
statsd prefix when a deployment sends ``<deployment>.`` in place of ``airflow.``, the sender's pod
(optional, see ``pods``), and a default for a bridge that serves one deployment. Prefixed names are rewritten to the base prefix, so one mapping
(the built-in preset or a user's file written for ``airflow.*``) serves every deployment.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from airglow.bridge.line import Event

log = logging.getLogger("bridge.fleet")

UNKNOWN_DEPLOYMENT = "unknown"
# Statsd prefixes that are never a deployment: the DogStatsD client's own telemetry (datadog.dogstatsd.client.*),
# which Airflow's DogStatsD senders emit next to their metrics.
NOT_DEPLOYMENTS = frozenset({"datadog"})


@dataclass(frozen=True)
class FleetIdentity:
    """``warn``: the default is a placeholder (no ``--airglow.deployment``), worth one log line when used."""

    label: str = "deployment"
    default: str = ""
    from_prefix: bool = False
    base_prefix: str = "airflow"
    warn: bool = False

    def apply(self, event: Event, pod_deployment: str | None = None) -> Event:
        """Add the deployment: a sender's tag, else the prefix, else the sender's pod, else the default."""
        name, labels = event.name, event.labels
        if self.from_prefix:
            head, dot, rest = name.partition(".")
            if dot and head != self.base_prefix and head not in NOT_DEPLOYMENTS:
                name = f"{self.base_prefix}.{rest}"
                if self.label not in labels:
                    labels = {**labels, self.label: head}
        fallback = pod_deployment or self.default
        if fallback and self.label not in labels:
            labels = {**labels, self.label: fallback}
        if name is event.name and labels is event.labels:
            return event
        # Built directly: dataclasses.replace costs several times more, and this runs for every new line.
        return Event(event.kind, name, event.value, labels, event.relative, event.tag_style, event.repeat)

    def fell_back(self, original: Event, identified: Event) -> bool:
        """Whether the placeholder default named this event's deployment (no tag, prefix or pod did)."""
        return (
            self.warn
            and self.label not in original.labels
            and identified.labels.get(self.label) == self.default
            and identified.name == original.name
        )

    def warn_fallback(self) -> None:
        log.warning(
            "Samples without a deployment are labelled %s=%r. Name the deployment in Airflow's [metrics] "
            "(statsd_datadog_tags = %s:<name>, or statsd_prefix = <name>), or start the bridge with "
            "--airglow.deployment=<name> or --airglow.pod-lookup.",
            self.label,
            self.default,
            self.label,
        )


NO_IDENTITY = FleetIdentity()
