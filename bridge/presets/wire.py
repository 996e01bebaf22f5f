"""Example statsd lines for a catalogue metric, as Airflow sends them: for the migration table and the tests."""

from __future__ import annotations

import re
from dataclasses import dataclass

from airglow.bridge.line import COUNTER, GAUGE, OBSERVER

STATSD_TYPE = {"counter": "c", "gauge": "g", "timer": "ms"}
EVENT_KIND = {"counter": COUNTER, "gauge": GAUGE, "timer": OBSERVER}
_VARIABLE = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class WireForm:
    """One way an Airflow metric reaches the bridge: the statsd name, its event kind and the ids filled in."""

    name: str
    kind: str
    ids: tuple[tuple[str, str], ...]
    statsd_type: str

    @property
    def line(self) -> str:
        return f"{self.name}:1|{self.statsd_type}"


def example_id(variable: str) -> str:
    """A distinctive id per variable, so that an id leaking into a metric name is easy to spot."""
    return f"{variable.replace('_', '')}Id7"


def wire_forms(name: str, legacy_name: str, metric_type: str, prefix: str = "airflow") -> list[WireForm]:
    """The legacy form (ids in the name) when there is one, then the name as Airflow sends it."""
    forms = []
    for template in (legacy_name, name) if legacy_name != "-" else (name,):
        variables = _VARIABLE.findall(template)
        ids = tuple((v, example_id(v)) for v in variables)
        forms.append(
            WireForm(
                f"{prefix}.{template.format_map(dict(ids))}",
                EVENT_KIND[metric_type],
                ids,
                STATSD_TYPE[metric_type],
            )
        )
    return forms
