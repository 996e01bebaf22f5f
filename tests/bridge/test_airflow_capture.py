"""Real Airflow 3.3.2 traffic (tests/data/airflow_statsd_capture.txt) through the built-in preset."""

from __future__ import annotations

import re
from collections import Counter

from support.common import DATA, parse_exposition
from support.pipelines import Clock, preset_pipeline

from airglow.bridge.exposition import Format, render

CAPTURE = [line for line in (DATA / "airflow_statsd_capture.txt").read_text().splitlines() if line]
IDS = re.compile(r"^airflow\.(?:ti\.finish|ti\.start|dag)\.([^.]+)\.")


def replay():
    clock = Clock()
    pipeline = preset_pipeline(clock)
    for start in range(0, len(CAPTURE), 500):
        pipeline.process([line.encode() for line in CAPTURE[start : start + 500]])
    clock.now += 4 * pipeline.twins.window + 0.1  # every held event has settled
    pipeline.expire()
    return pipeline, parse_exposition(render(pipeline.registry.collect(0.0), Format.TEXT).decode())


def capture_ids() -> set[str]:
    ids = set()
    for line in CAPTURE:
        name = line.split(":", 1)[0]
        for pattern in (
            r"^airflow\.ti\.finish\.([^.]+)\.(.+)\.([^.]+)$",
            r"^airflow\.dag\.([^.]+)\.(.+)\.\w+$",
            r"^airflow\.dagrun\.dependency-check\.(.+)$",
            r"^airflow\.pool\.\w+\.(.+)$",
        ):
            match = re.match(pattern, name)
            if match:
                ids.update(g for g in match.groups() if g not in ("success", "failed", "skipped"))
    return ids


def per_dag(samples: dict, name: str) -> Counter:
    out: Counter = Counter()
    for (series, labels), value in samples.items():
        if series == name:
            out[dict(labels)["dag_id"]] += value
    return out


def test_no_metric_name_carries_an_id() -> None:
    _, samples = replay()
    ids = capture_ids()
    assert len(ids) > 20
    names = {name for name, _ in samples}
    assert all(name.startswith("airflow_") for name in names), sorted(
        n for n in names if not n.startswith("airflow_")
    )
    leaking = {name for name in names for id_ in ids if len(id_) > 3 and id_.replace("-", "_") in name}
    assert not leaking


def test_no_type_conflict_and_nothing_unmapped() -> None:
    pipeline, _ = replay()
    totals = pipeline.stats.totals()
    assert not [key for key in totals if key[0] == "statsd_exporter_events_conflict_total"]
    assert totals.get(("statsd_exporter_events_unmapped_total", ()), 0) == 0
    assert pipeline.lines == len(CAPTURE)


def test_per_dag_counts_equal_the_capture() -> None:
    _, samples = replay()
    finished, durations = Counter(), Counter()
    for line in CAPTURE:
        name = line.split(":", 1)[0]
        if match := re.match(r"^airflow\.ti\.finish\.([^.]+)\.", name):
            finished[match.group(1)] += 1
        if match := re.match(r"^airflow\.dag\.([^.]+)\..+\.duration$", name):
            durations[match.group(1)] += 1
    assert finished and durations
    assert per_dag(samples, "airflow_ti_finish_total") == finished
    assert per_dag(samples, "airflow_task_duration_seconds_count") == durations
