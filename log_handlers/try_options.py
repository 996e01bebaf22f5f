"""The options both log commands (``airglow-logs read``, ``airglow-es-logs read``) select a try with: the same
names, the same meaning, the latest try when ``--try`` is not given."""

from __future__ import annotations

import argparse


def add_try_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dag", dest="dag_id", help="dag id")
    parser.add_argument("--task", dest="task_id", help="task id")
    parser.add_argument("--run", dest="run_id", help="dag run id")
    parser.add_argument("--try", dest="try_number", type=int, help="try number (default: the latest)")
    parser.add_argument("--map-index", type=int, default=-1, help="map index of a mapped task")
