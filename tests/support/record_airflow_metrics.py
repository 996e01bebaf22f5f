"""Re-record the real-Airflow metrics runs that the replay tests use (tests/data/airflow_runs/*.json).

    python tests/support/record_airflow_metrics.py --airflow3-venv V3 --airflow2-venv V2 [--only NAME ...]

V3 and V2 are venvs with ``apache-airflow[statsd]==3.3.2`` and ``apache-airflow[statsd]==2.11.2`` (each with
``airglow[dogstatsd]`` from this checkout, for DogStatsD); they are made when missing. Without the statsd
extra Airflow sends nothing at all. Each configuration runs
the DAG set of tests/support/airflow_metrics_runs.py once (about two minutes) and records every statsd datagram with
its sender's port, and Airflow's own truth from its REST API.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests folder: support.*

from support.airflow_deployment import AIRFLOW, AIRFLOW2, airflow_venv, with_airglow
from support.airflow_metrics_runs import AIRFLOW3, CONFIGS, record
from support.common import DATA

RUNS = DATA / "airflow_runs"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--airflow3-venv", type=Path, required=True)
    parser.add_argument("--airflow2-venv", type=Path, required=True)
    parser.add_argument("--only", nargs="*", choices=sorted(CONFIGS), help="configurations to record")
    args = parser.parse_args()
    RUNS.mkdir(exist_ok=True)
    for name in args.only or sorted(CONFIGS):
        config = CONFIGS[name]
        venv, requirement = (
            (args.airflow3_venv, AIRFLOW)
            if config.airflow == AIRFLOW3
            else (args.airflow2_venv, AIRFLOW2.replace("apache-airflow==", "apache-airflow[statsd]=="))
        )
        bin_dir = airflow_venv("", venv, with_airglow(requirement))
        with tempfile.TemporaryDirectory(prefix=f"airglow-{name}-") as home:
            run = record(bin_dir, Path(home) / "airflow", config)
        path = RUNS / f"{name}.json"
        if not any(port for _, port, _ in run["datagrams"]):
            print(f"{name}: Airflow sent no statsd at all", file=sys.stderr)
            return 1
        path.write_text(json.dumps(run, indent=0) + "\n")
        print(f"{name}: {len(run['datagrams'])} datagrams, {len(run['tries'])} tries -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
